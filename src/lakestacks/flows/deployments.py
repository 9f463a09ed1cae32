"""Prefect deployments of a stack's flows: the wanted set, a plan against the server, apply.

One environment of one stack owns the deployments tagged ``stack:<name>`` and ``env:<env>``,
named ``<flow>/<stack>-<env>``. Wanted: ``pipeline``, ``batch_inference`` when the stack has
a batch output, and every flow in ``schedules``. Each runs the project's ``flows/<flow>.py``
when there is one, else the built-in entrypoint, with the project folder as its working
directory and ``{stack, env}`` as parameters. Its schedule is the stack's cron; its version
and a ``git:<branch>`` tag come from git; at most one run of it at a time (later ones wait).

A plan compares every field we set with what the server holds, so applying an empty plan
writes nothing: deploying twice changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lakestacks._git import git
from lakestacks.errors import UserError
from lakestacks.flows import server as local_server
from lakestacks.flows._runner import quiet_prefect
from lakestacks.flows.stage import Stage
from lakestacks.flows.stage import plan as stage_plan
from lakestacks.spec import PlanStep, ResolvedStack

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = [
    "Change",
    "DeployPlan",
    "Triggered",
    "WantedDeployment",
    "api_url",
    "apply",
    "plan",
    "trigger",
    "undeploy",
    "wanted",
]

Action = Literal["add", "change", "remove", "keep"]
_PARAMETER_SCHEMA = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "stack": {
            "title": "stack",
            "type": "string",
            "default": "stack.yaml",
            "description": "The stack file, relative to the project folder.",
            "position": 0,
        },
        "env": {"title": "env", "type": "string", "description": "The environment.", "position": 1},
    },
}


@dataclass(frozen=True)
class WantedDeployment:
    """One deployment as the stack wants it."""

    flow: str
    name: str
    entrypoint: str
    working_dir: str
    parameters: dict[str, Any]
    work_pool: str
    cron: str | None
    timezone: str | None
    tags: tuple[str, ...]
    version: str | None
    job_variables: dict[str, Any] = field(default_factory=dict)
    concurrency_limit: int = 1

    @property
    def full_name(self) -> str:
        """``flow/deployment``, as Prefect names it."""
        return f"{self.flow}/{self.name}"

    def fields(self) -> dict[str, Any]:
        """What a plan compares."""
        return {
            "entrypoint": self.entrypoint,
            "working_dir": self.working_dir,
            "parameters": self.parameters,
            "work_pool": self.work_pool,
            "schedule": _schedule_text(self.cron, self.timezone),
            "tags": sorted(self.tags),
            "version": self.version,
            "job_variables": self.job_variables,
            "concurrency_limit": self.concurrency_limit,
        }


@dataclass
class Change:
    """One line of a plan: a deployment to add, change, remove, or keep as it is."""

    action: Action
    deployment: str
    schedule: str | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    wanted: WantedDeployment | None = None
    deployment_id: str | None = None


@dataclass
class DeployPlan:
    """What `stacks deploy` would do against one Prefect API."""

    stack: str
    env: str
    api_url: str
    work_pool: str
    create_pool: bool
    changes: list[Change]

    @property
    def empty(self) -> bool:
        """Nothing to add, change or remove."""
        return not self.create_pool and all(c.action == "keep" for c in self.changes)

    def count(self, action: Action) -> int:
        """How many deployments the plan would ``action``."""
        return sum(1 for c in self.changes if c.action == action)


@dataclass
class Triggered:
    """A flow run started from a deployment, and the state it reached."""

    deployment: str
    flow_run_id: str
    flow_run_name: str
    state: str
    message: str = ""

    @property
    def ok(self) -> bool:
        """It completed (or was only scheduled: not waited for)."""
        return self.state in ("COMPLETED", "SCHEDULED", "PENDING", "RUNNING")


def _schedule_text(cron: str | None, timezone: str | None) -> str | None:
    return f"{cron} ({timezone or 'UTC'})" if cron else None


def deployment_name(resolved: ResolvedStack) -> str:
    """``<stack>-<env>``: one deployment per flow, stack and environment."""
    return f"{resolved.stack.name}-{resolved.runtime.env}"


def _owner_tags(resolved: ResolvedStack) -> list[str]:
    return [f"stack:{resolved.stack.name}", f"env:{resolved.runtime.env}"]


def _check_schedulable(flow: str, stages: dict[str, tuple[Stage, PlanStep]]) -> None:
    if flow == "pipeline":
        return
    if flow not in stages:
        raise UserError(
            f"schedules.{flow}: this stack has no {flow} stage (its section is missing); "
            "remove the schedule or add the section"
        )
    stage, step = stages[flow]
    if step.later:
        raise UserError(
            f"schedules.{flow}: the {flow} flow is not built yet; remove its schedule for now"
        )
    if not stage.schedulable:
        raise UserError(
            f"schedules.{flow}: the {flow} stage does not run on its own schedule; "
            "schedule the pipeline instead"
        )


def wanted(resolved: ResolvedStack) -> list[WantedDeployment]:
    """The deployments the stack wants in its environment, flow by flow."""
    spec, runtime = resolved.stack, resolved.runtime
    project = resolved.base_dir
    stages = {s.name: (s, step) for s, step in stage_plan(resolved)}
    flows = ["pipeline", *(name for name, (s, _) in stages.items() if s.deployed)]
    flows += [f for f in spec.schedules if f not in flows]
    version = git(project, "describe", "--always", "--dirty", "--tags", "--abbrev=12")
    branch = git(project, "rev-parse", "--abbrev-ref", "HEAD")
    tags = ["lakestacks", *_owner_tags(resolved)] + ([f"git:{branch}"] if branch else [])
    stack_param = resolved.path.relative_to(project).as_posix()
    out = []
    for flow in flows:
        _check_schedulable(flow, stages)
        file = project / "flows" / f"{flow}.py"
        entrypoint = (
            f"flows/{flow}.py:{flow}" if file.is_file() else f"lakestacks.entrypoints.{flow}"
        )
        schedule = spec.schedules.get(flow)
        out.append(
            WantedDeployment(
                flow=flow,
                name=deployment_name(resolved),
                entrypoint=entrypoint,
                working_dir=runtime.working_dir or str(project),
                parameters={"stack": stack_param, "env": runtime.env},
                work_pool=runtime.work_pool or local_server.DEFAULT_POOL,
                cron=schedule.cron if schedule else None,
                timezone=schedule.timezone if schedule else None,
                tags=tuple(tags),
                version=version,
                job_variables=dict(runtime.job_variables or {}),
            )
        )
    return out


def api_url(resolved: ResolvedStack) -> str:
    """The Prefect API to deploy to: the environment's ``prefect_api_url``, else
    ``PREFECT_API_URL``, else the server `stacks server start` runs."""
    url = (
        resolved.runtime.prefect_api_url
        or os.environ.get("PREFECT_API_URL")
        or local_server.local_api_url()
    )
    if not url:
        raise UserError(
            "no Prefect server to deploy to: run `stacks server start` for a local one, or set "
            "PREFECT_API_URL (or the environment's prefect_api_url) to yours"
        )
    return url.rstrip("/")


@contextmanager
def _client(url: str) -> Iterator[SyncPrefectClient]:
    quiet_prefect()
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}), ExitStack() as stack:
        try:
            client = stack.enter_context(get_client(sync_client=True))
            problem = client.api_healthcheck()
        except httpx.HTTPError as err:
            problem = err
        if problem is not None:
            raise UserError(
                f"cannot reach the Prefect API at {url} ({problem}); start it (`stacks server "
                "start`) or point PREFECT_API_URL at a running server"
            )
        yield client


def _owned(client: SyncPrefectClient, resolved: ResolvedStack) -> dict[str, Any]:
    """The server's deployments of this stack and environment, by ``flow/name``."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterTags,
        FlowFilter,
        FlowFilterId,
    )

    owned = DeploymentFilter(tags=DeploymentFilterTags(all_=_owner_tags(resolved)))
    found = client.read_deployments(deployment_filter=owned)
    if not found:
        return {}
    ids = list({d.flow_id for d in found})
    flows = client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=ids)))
    names = {f.id: f.name for f in flows}
    return {f"{names.get(d.flow_id, '?')}/{d.name}": d for d in found}


def _removals(owned: dict[str, Any]) -> list[Change]:
    return [
        Change("remove", name, _current_fields(d)["schedule"], deployment_id=str(d.id))
        for name, d in sorted(owned.items())
    ]


def _current_fields(deployment: Any) -> dict[str, Any]:
    schedules = [s for s in deployment.schedules or [] if s.active]
    cron = getattr(schedules[0].schedule, "cron", None) if schedules else None
    zone = getattr(schedules[0].schedule, "timezone", None) if schedules else None
    working_dir = None
    for step in deployment.pull_steps or []:
        args = step.get("prefect.deployments.steps.set_working_directory")
        if args:
            working_dir = args.get("directory")
    text = _schedule_text(cron, zone)
    if len(schedules) > 1:
        text = f"{text} and {len(schedules) - 1} more"
    return {
        "entrypoint": deployment.entrypoint,
        "working_dir": working_dir,
        "parameters": dict(deployment.parameters or {}),
        "work_pool": deployment.work_pool_name,
        "schedule": text,
        "tags": sorted(deployment.tags or []),
        "version": deployment.version,
        "job_variables": dict(deployment.job_variables or {}),
        # The server keeps a deployment's limit as a global concurrency limit of its own.
        "concurrency_limit": deployment.concurrency_limit
        or getattr(deployment.global_concurrency_limit, "limit", None),
    }


def plan(resolved: ResolvedStack, url: str | None = None) -> DeployPlan:
    """Compare the wanted deployments with the server's: what to add, change and remove.

    Example:
        >>> p = plan(load_stack("stack.yaml", "prod"))  # doctest: +SKIP
        >>> [(c.action, c.deployment) for c in p.changes]  # doctest: +SKIP
        [('add', 'pipeline/churn-prod')]
    """
    url = url or api_url(resolved)
    want = wanted(resolved)
    pool = want[0].work_pool
    with _client(url) as client:
        from prefect.exceptions import ObjectNotFound

        try:
            client.read_work_pool(pool)
            create_pool = False
        except ObjectNotFound:
            create_pool = True
        current = _owned(client, resolved)
        changes = []
        for w in want:
            found = current.pop(w.full_name, None)
            schedule = _schedule_text(w.cron, w.timezone)
            if found is None:
                changes.append(Change("add", w.full_name, schedule, wanted=w))
                continue
            now = _current_fields(found)
            diff = {k: (now.get(k), v) for k, v in w.fields().items() if now.get(k) != v}
            action: Action = "change" if diff else "keep"
            changes.append(Change(action, w.full_name, schedule, diff, w, str(found.id)))
        changes += _removals(current)  # what is left is no longer wanted
    return DeployPlan(resolved.stack.name, resolved.runtime.env, url, pool, create_pool, changes)


def apply(deploy_plan: DeployPlan) -> DeployPlan:
    """Make the server match the plan; a plan with nothing to change writes nothing."""
    if deploy_plan.empty:
        return deploy_plan
    from uuid import UUID

    from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
    from prefect.client.schemas.schedules import CronSchedule

    with _client(deploy_plan.api_url) as client:
        if deploy_plan.create_pool:
            client.create_work_pool(WorkPoolCreate(name=deploy_plan.work_pool, type="process"))
        for change in deploy_plan.changes:
            if change.action == "remove" and change.deployment_id:
                client.delete_deployment(UUID(change.deployment_id))
            if change.action not in ("add", "change") or change.wanted is None:
                continue
            w = change.wanted
            schedules = (
                [DeploymentScheduleCreate(schedule=CronSchedule(cron=w.cron, timezone=w.timezone))]
                if w.cron
                else []
            )
            client.create_deployment(  # an upsert: same flow and name update in place
                flow_id=client.create_flow_from_name(w.flow),
                name=w.name,
                version=w.version,
                schedules=schedules,
                concurrency_limit=w.concurrency_limit,
                concurrency_options=ConcurrencyOptions(
                    collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
                ),
                parameters=w.parameters,
                description=f"{w.flow} of stack {deploy_plan.stack}, env {deploy_plan.env}",
                work_pool_name=w.work_pool,
                tags=list(w.tags),
                entrypoint=w.entrypoint,
                parameter_openapi_schema=_PARAMETER_SCHEMA,
                pull_steps=[
                    {
                        "prefect.deployments.steps.set_working_directory": {
                            "directory": w.working_dir
                        }
                    }
                ],
                job_variables=w.job_variables,
                paused=False,
            )
    return deploy_plan


def undeploy(resolved: ResolvedStack, url: str | None = None, dry_run: bool = False) -> DeployPlan:
    """Remove every deployment of the stack in its environment (scheduled runs go with them)."""
    from uuid import UUID

    url = url or api_url(resolved)
    with _client(url) as client:
        changes = _removals(_owned(client, resolved))
        if not dry_run:
            for change in changes:
                client.delete_deployment(UUID(str(change.deployment_id)))
    pool = resolved.runtime.work_pool or local_server.DEFAULT_POOL
    return DeployPlan(resolved.stack.name, resolved.runtime.env, url, pool, False, changes)


def active_runs(resolved: ResolvedStack, flow: str = "pipeline") -> list[str]:
    """The names of the deployment's flow runs that are scheduled, pending or running.

    Raises:
        UserError: no such deployment (or no Prefect API).
    """
    url = api_url(resolved)
    name = f"{flow}/{deployment_name(resolved)}"
    with _client(url) as client:
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.exceptions import ObjectNotFound

        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise UserError(f"no deployment {name} on {url}") from None
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(
                        any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
                    )
                )
            ),
        )
    return [str(run.name) for run in runs]


def trigger(
    resolved: ResolvedStack,
    flow: str = "pipeline",
    wait: bool = False,
    timeout: float | None = None,
    url: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> Triggered:
    """Start a run of one of the stack's deployments through the Prefect API.

    Called inside a flow run, the new run is linked to it as a subflow. The triggered run is
    the deployed flow itself, so its gates, approval mode and compare-and-set promotion
    apply as on any run.

    Example:
        >>> trigger(load_stack("stack.yaml", "prod"), "pipeline", wait=True).state  # doctest: +SKIP
        'COMPLETED'
    """
    url = url or api_url(resolved)
    name = f"{flow}/{deployment_name(resolved)}"
    with _client(url) as client:
        from prefect.deployments import run_deployment
        from prefect.exceptions import ObjectNotFound

        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise UserError(
                f"no deployment {name} on {url}; run `stacks deploy --env "
                f"{resolved.runtime.env}` first"
            ) from None
        run: Any = run_deployment(
            name,
            parameters=parameters,
            timeout=(timeout if wait else 0),
            poll_interval=1,
            as_subflow=True,
        )
    state = run.state
    return Triggered(
        deployment=name,
        flow_run_id=str(run.id),
        flow_run_name=run.name,
        state=state.type.value if state else "UNKNOWN",
        message=(state.message or "") if state else "",
    )
