"""Stages as plug-ins: the ``Stage`` protocol and the stages registered under the entry-point
group ``lakestacks.stages``.

Everything that lists stages reads them from here: the pipeline runs them in ``order``,
``stacks plan`` prints their ``describe``, schedules and deployments accept every registered
name, the run summary prints their ``summary``, and ``--resume`` reuses any stage whose key
(the stack sections it reads, the user's code, its inputs and the plug-in packages'
versions) matches a completed run. Built-in stages register exactly as a separate package
would, in lakestacks' own ``pyproject.toml``::

    [project.entry-points."lakestacks.stages"]
    row_count = "my_package.stages:RowCount"

A plug-in module should import heavy libraries inside ``run``: ``stacks validate`` loads
installed plug-ins (never the project's modules) to check their stack sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lakestacks.errors import UserError
from lakestacks.spec import ResolvedStack
from lakestacks.spec.plan import PlanStep
from lakestacks.spec.plugins import ENTRY_POINT_GROUP

if TYPE_CHECKING:
    from pydantic import BaseModel

    from lakestacks.flows.context import RunContext
    from lakestacks.flows.pipeline import PipelineResult

__all__ = [
    "ENTRY_POINT_GROUP",
    "BaseStage",
    "Stage",
    "SummaryTable",
    "check_flow",
    "plan",
    "registered",
    "stage_named",
    "to_record",
]


@dataclass(frozen=True)
class SummaryTable:
    """A table in the run summary; the CLI draws it, ``--json`` carries the results instead."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    right: tuple[str, ...] = ()  # columns aligned right (numbers)


Summary = list[str | SummaryTable]
"""What a stage's result looks like in the run summary: lines and tables."""


@runtime_checkable
class Stage(Protocol):
    """One stage of the lifecycle.

    Attributes:
        name: The stage and flow name, e.g. ``training``; the entry point's name.
        order: Where it runs in the pipeline (built-ins: data_prep 10, training 20,
            evaluation 30, approval 40, deployment 50, batch_inference 60, monitoring 70).
        section: The stack section of a plug-in stage (validated with ``section_model``);
            None for built-ins, whose sections are the stack's own.
        section_model: The pydantic model of ``section``.
        sections: The stack sections the stage reads: its resume key covers them.
        schedulable: Whether ``schedules`` and ``stacks deploy`` may run it as its own flow.
        deployed: Whether ``stacks deploy`` gives it a deployment even without a schedule
            (so it can be triggered), as for batch inference.
        later: Validated now, runs in a later release (``stacks plan`` says so).
    """

    name: str
    order: int
    section: str | None
    section_model: type[BaseModel] | None
    sections: tuple[str, ...]
    schedulable: bool
    deployed: bool
    later: bool

    def applies(self, resolved: ResolvedStack) -> bool:
        """Whether this stack runs the stage."""
        ...

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """What the stage reads and writes, for ``stacks plan``."""
        ...

    def run(self, ctx: RunContext, state: PipelineResult) -> object | None:
        """Run on the context, given the results so far; None when it had nothing to do."""
        ...

    def flow(self) -> tuple[str, ...]:
        """The stages ``stacks run <name>`` runs, in order (usually just this one)."""
        ...

    def rebuild(self, ctx: RunContext, state: PipelineResult) -> None:
        """Before running as its own flow: put what earlier stages would have passed (the
        newest trained version, say) into ``state``, from the registry and the tables."""
        ...

    def resume_inputs(self, ctx: RunContext, state: PipelineResult) -> object | None:
        """What the stage reads now (table versions, file digests), for its resume key; None
        when the stage is never reused."""
        ...

    def reuse(self, ctx: RunContext, recorded: Mapping[str, Any]) -> object | None:
        """The result recorded by an earlier run under the same key, if what it wrote is
        still there as it was left; else None and the stage runs."""
        ...

    def summary(self, result: Any) -> Summary:
        """The result in the run summary."""
        ...


class BaseStage:
    """Defaults for a stage: runs when its section is present, alone as its own flow, never
    reused, summarised as one line. Subclass it and set ``name`` and ``order``."""

    name: str = ""
    order: int = 100
    section: str | None = None
    section_model: type[BaseModel] | None = None
    sections: tuple[str, ...] = ()
    schedulable: bool = True
    deployed: bool = False
    later: bool = False

    def applies(self, resolved: ResolvedStack) -> bool:
        """True when the stack has the stage's section (always, for a stage without one)."""
        return self.section is None or self.section in resolved.extensions

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """A plan step with no reads or writes listed."""
        return PlanStep(self.name, later=self.later)

    def run(self, ctx: RunContext, state: PipelineResult) -> object | None:
        """Nothing: subclasses run something."""
        return None

    def flow(self) -> tuple[str, ...]:
        """Just this stage."""
        return (self.name,)

    def rebuild(self, ctx: RunContext, state: PipelineResult) -> None:
        """Nothing to rebuild."""

    def resume_inputs(self, ctx: RunContext, state: PipelineResult) -> object | None:
        """Never reused."""
        return None

    def reuse(self, ctx: RunContext, recorded: Mapping[str, Any]) -> object | None:
        """Never reused."""
        return None

    def summary(self, result: Any) -> Summary:
        """One line: the stage's name and its result."""
        return [f"{self.name}: {result}"]


def to_record(result: object) -> Any:
    """A stage result as JSON-ready data: its own ``to_record()`` if it has one, else a
    dataclass as a dict."""
    own = getattr(result, "to_record", None)
    if callable(own):
        return own()
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return result


def registered() -> list[Stage]:
    """Every stage registered under ``lakestacks.stages``, in pipeline order.

    Raises:
        UserError: a plug-in fails to load, is not a stage, or two claim one name.
    """
    found: dict[str, Stage] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"stage plug-in {point.name!r} ({point.value})"
        try:
            loaded = point.load()
        except Exception as exc:
            raise UserError(
                f"{where} cannot be loaded: {type(exc).__name__}: {exc}; reinstall or "
                "uninstall the package that provides it"
            ) from None
        stage = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(stage, Stage):
            raise UserError(f"{where} is not a stage: it lacks the Stage protocol's members")
        if stage.name != point.name:
            raise UserError(f"{where} names itself {stage.name!r}: the two must match")
        if stage.name in found and type(found[stage.name]) is not type(stage):
            raise UserError(f"{where}: two packages register a stage named {stage.name!r}")
        found[stage.name] = stage
    if not found:
        raise UserError("no stages are registered: reinstall lakestacks (pip install lakestacks)")
    return sorted(found.values(), key=lambda s: (s.order, s.name))


def stage_named(name: str) -> Stage:
    """The registered stage called ``name``."""
    stages = registered()
    for stage in stages:
        if stage.name == name:
            return stage
    raise UserError(
        f"unknown stage {name!r}; stages: pipeline, {', '.join(s.name for s in stages)}"
    )


def check_flow(resolved: ResolvedStack, name: str) -> None:
    """Raise unless ``name`` is ``pipeline`` or a stage this stack runs.

    Raises:
        UserError: naming the flows of this stack.
    """
    names = [s.name for s, step in plan(resolved) if not step.later]
    if name != "pipeline" and name not in names:
        raise UserError(f"unknown flow {name!r}; flows of this stack: pipeline, {', '.join(names)}")


def plan(resolved: ResolvedStack) -> list[tuple[Stage, PlanStep]]:
    """The stages this stack runs, in order, each with its plan step.

    Example:
        >>> steps = plan(load_stack("stacks/quickstart.yaml"))  # doctest: +SKIP
        >>> [step.name for _, step in steps][:2]  # doctest: +SKIP
        ['data_prep', 'training']
    """
    return [(s, s.describe(resolved)) for s in registered() if s.applies(resolved)]
