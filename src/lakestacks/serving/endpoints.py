"""Endpoints, their arms, and the scoring path: micro-batches on one model thread, hot swap.

Requests that arrive while the model is busy are scored together in the next call: one
model call costs about the same for 1 row as for 100, so under load this multiplies
throughput, and a lone request waits for nothing. Every batch reads its arm's model once,
so a hot swap (an attribute assignment) never splits a batch or fails a request.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lakestacks.errors import UserError
from lakestacks.serving.config import ArmConfig, EndpointConfig
from lakestacks.serving.loading import Models, Servable
from lakestacks.serving.protocol import ALL_FORMATS, NULLS_REFUSED, Outputs, as_outputs
from lakestacks.tasks import task_kind

__all__ = ["Arm", "Endpoint", "Scored", "load_endpoints", "watch"]

log = logging.getLogger("lakestacks.serving")


@dataclass(frozen=True)
class Scored:
    """One request's outputs and the model version that produced them."""

    outputs: Outputs
    version: int


@dataclass
class _Job:
    table: pa.Table
    future: asyncio.Future[Scored]


@dataclass
class Arm:
    """A model version behind an endpoint; ``model`` is replaced whole on a hot swap."""

    config: ArmConfig
    model: Servable | None
    max_batch_rows: int = 4096
    on_batch: Callable[[int], None] | None = field(default=None, repr=False)
    _queue: asyncio.Queue[_Job] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The alias it follows, or ``v<N>``."""
        return self.config.name

    @property
    def version(self) -> int | None:
        """The version served now; None while the alias is not set."""
        return self.model.version if self.model is not None else None

    @property
    def runtime(self) -> str | None:
        """What scores it: ``numpy`` (the built-in models' bundle) or ``pyfunc``."""
        return self.model.runtime if self.model is not None else None

    async def score(self, table: pa.Table) -> Scored:
        """Score one request's rows in the next batch."""
        assert self._queue is not None, "start() the arm first"  # noqa: S101
        future: asyncio.Future[Scored] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(table, future))
        return await future

    def start(self, executor: ThreadPoolExecutor) -> asyncio.Task[None]:
        """Run the batch loop on the current event loop until cancelled."""
        self._queue = asyncio.Queue()
        return asyncio.get_running_loop().create_task(self._batches(executor))

    async def drain(self) -> None:
        """Wait until every queued request is scored."""
        if self._queue is not None:
            await self._queue.join()

    async def _batches(self, executor: ThreadPoolExecutor) -> None:
        assert self._queue is not None  # noqa: S101
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            rows = jobs[0].table.num_rows
            while not self._queue.empty() and rows < self.max_batch_rows:
                jobs.append(self._queue.get_nowait())
                rows += jobs[-1].table.num_rows
            if self.on_batch is not None:
                self.on_batch(rows)
            try:
                model = self.model
                if model is not None and model.runtime == "numpy":
                    results = _score_jobs(model, jobs)  # microseconds: no thread hop
                else:
                    results = await loop.run_in_executor(executor, _score_jobs, model, jobs)
                for job, result in zip(jobs, results, strict=True):
                    if job.future.done():
                        continue
                    if isinstance(result, BaseException):
                        job.future.set_exception(result)
                    else:
                        job.future.set_result(result)
            finally:
                for _ in jobs:
                    self._queue.task_done()


def _score_jobs(model: Servable | None, jobs: list[_Job]) -> list[Scored | BaseException]:
    if model is None:
        return [RuntimeError("this arm has no model loaded") for _ in jobs]
    try:
        tables = [j.table for j in jobs]
        batch = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        outputs = as_outputs(model.predict_checked(batch))
    except Exception:
        if len(jobs) == 1:
            log.exception("%s/%s failed to score a request", model.name, model.version)
            return [_ModelFailed()]
        # One bad request must not fail the others of its batch: score them one by one.
        return [r for job in jobs for r in _score_jobs(model, [job])]
    out: list[Scored | BaseException] = []
    at = 0
    for job in jobs:
        n = job.table.num_rows
        out.append(Scored(outputs.slice(at, at + n), model.version))
        at += n
    return out


class _ModelFailed(Exception):
    """The model raised; the trace is in the server's log, never in the response."""


@dataclass
class Endpoint:
    """A named endpoint; each request goes to one arm, by the arms' traffic shares."""

    config: EndpointConfig
    arms: list[Arm]
    models: Models  # where its arms' versions come from, for hot swaps
    formats: tuple[str, ...] = ALL_FORMATS  # the request bodies its models' task kind takes
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def name(self) -> str:
        """The model's short name, as in ``/serving-endpoints/{name}/invocations``."""
        return self.config.name

    @property
    def schema(self) -> pa.Schema | None:
        """The input schema of the first arm with a model (arms share a signature); marked
        with ``NULLS_REFUSED`` when that model needs a value in its required columns."""
        for arm in self.arms:
            if arm.model is not None:
                return _request_schema(arm.model)
        return None

    def pick(self) -> Arm:
        """An arm with a model, drawn by traffic share; an unset alias gives its share away."""
        live = [a for a in self.arms if a.model is not None]
        if len(live) == 1:
            return live[0]
        weights = [a.config.percent for a in live]
        if not live or sum(weights) <= 0:
            return live[0] if live else self.arms[0]
        return self._random.choices(live, weights)[0]


def _request_schema(model: Servable) -> pa.Schema | None:
    schema: pa.Schema | None = model.input_schema
    if schema is None or not model.refuses_nulls:
        return schema  # an older or foreign model: nulls are imputed (or taken) anywhere
    return schema.with_metadata({NULLS_REFUSED: b"true"})


def _resolve(models: Models, arm: ArmConfig) -> int | None:
    if arm.version is not None:
        return arm.version
    assert arm.alias is not None  # noqa: S101
    return models.alias_version(arm.model, arm.alias)


def load_endpoints(
    configs: tuple[EndpointConfig, ...], max_batch_rows: int, models: Models
) -> list[Endpoint]:
    """Load every arm's model; an endpoint needs at least one arm that resolves.

    Raises:
        UserError: an unknown model or version, or an endpoint with nothing to serve.
    """
    endpoints = []
    for config in configs:
        arms = []
        for arm in config.arms:
            version = _resolve(models, arm)
            model = models.load(arm.model, version) if version is not None else None
            arms.append(Arm(arm, model, max_batch_rows))
        if all(a.model is None for a in arms):
            first = config.arms[0]
            models.explain_missing(first.model, first.alias)
            raise UserError(f"{first.model} has no version at @{first.alias}; run the pipeline")
        _check_signatures(config.name, arms)
        endpoints.append(Endpoint(config, arms, models, _formats(arms)))
    return endpoints


def _formats(arms: list[Arm]) -> tuple[str, ...]:
    """The request formats of the arms' task kind (every format for a model lakestacks did
    not register)."""
    for arm in arms:
        if arm.model is not None and arm.model.task is not None:
            return task_kind(arm.model.task).request_formats
    return ALL_FORMATS


def _check_signatures(endpoint: str, arms: list[Arm]) -> None:
    schemas = {str(_request_schema(a.model)) for a in arms if a.model is not None}
    if len(schemas) > 1:
        raise UserError(
            f"the arms of {endpoint} take different inputs; a traffic split needs versions "
            "with the same signature"
        )


async def watch(
    endpoints: list[Endpoint],
    every: float,
    on_swap: Callable[[Endpoint, Arm, int | None, int | None], None],
) -> None:
    """Follow the arms' aliases: load a moved alias's version off the request path, then swap.

    Runs until cancelled. A version that fails to load is logged and tried again next time;
    the arm keeps serving what it has.
    """
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="stacks-swap") as pool:
        while True:
            await asyncio.sleep(every)
            for endpoint in endpoints:
                for arm in endpoint.arms:
                    if arm.config.alias is None:
                        continue
                    try:
                        await _follow(loop, pool, endpoint, arm, on_swap)
                    except Exception as err:  # keep serving; try again next poll
                        log.warning("hot swap of %s@%s failed: %s", arm.config.model, arm.name, err)


async def _follow(
    loop: asyncio.AbstractEventLoop,
    pool: ThreadPoolExecutor,
    endpoint: Endpoint,
    arm: Arm,
    on_swap: Callable[[Endpoint, Arm, int | None, int | None], None],
) -> None:
    version = await loop.run_in_executor(pool, _resolve, endpoint.models, arm.config)
    before = arm.version
    if version == before:
        return
    model: Any = None
    if version is not None:
        model = await loop.run_in_executor(pool, endpoint.models.load, arm.config.model, version)
        if before is not None and str(_request_schema(model)) != str(endpoint.schema):
            log.warning(
                "%s@%s moved to v%s, whose inputs differ; still serving v%s",
                arm.config.model, arm.name, version, before,
            )  # fmt: skip
            return
    elif len([a for a in endpoint.arms if a.model is not None]) == 1:
        return  # the last live arm keeps serving until its alias comes back
    arm.model = model
    on_swap(endpoint, arm, before, version)
