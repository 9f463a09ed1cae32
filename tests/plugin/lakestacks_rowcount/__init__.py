"""A stage plug-in as a separate package would ship it: it counts a table's rows after data
prep and fails the run below a minimum. The tests put this folder on ``sys.path``; its
``.dist-info`` registers the stage under the ``lakestacks.stages`` entry points, exactly as
``pip install`` would, and nothing in lakestacks names it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from lakestacks.errors import UserError
from lakestacks.flows import BaseStage, PipelineResult, RunContext
from lakestacks.spec import PlanStep, ResolvedStack
from lakestacks.spec._base import SpecModel, TableName


class RowCountSection(SpecModel):
    """The plug-in's own stack section, ``row_count:``."""

    table: TableName = Field(description="The table to count, e.g. 'features'.")
    min_rows: int = Field(1, ge=0, description="Fewer rows than this fail the run.")


@dataclass
class RowCountResult:
    table: str
    version: int
    rows: int


def _section(resolved: ResolvedStack) -> RowCountSection:
    section = resolved.extensions["row_count"]
    assert isinstance(section, RowCountSection)
    return section


def _count(path: str, version: int) -> int:
    from lakestacks.data.tables import read_table

    return read_table(path, version=version).num_rows


class RowCount(BaseStage):
    """Count a table's rows after data prep."""

    name = "row_count"
    order = 15  # after data_prep (10), before training (20)
    section = "row_count"
    section_model = RowCountSection
    sections = ("row_count",)

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        section = _section(resolved)
        table = resolved.catalog.qualify(section.table)
        return PlanStep(self.name, [table], ["the run summary"], f"at least {section.min_rows}")

    def run(self, ctx: RunContext, state: PipelineResult) -> RowCountResult:
        from lakestacks.data.tables import table_info

        section = _section(ctx.resolved)
        path = ctx.catalog.table_path(section.table)
        version = table_info(path).version
        rows = ctx.runner.step("count rows", _count, path, version)
        if rows < section.min_rows:
            raise UserError(
                f"row_count: {section.table} has {rows} rows, fewer than {section.min_rows}"
            )
        return RowCountResult(ctx.catalog.qualify(section.table), version, rows)

    def resume_inputs(self, ctx: RunContext, state: PipelineResult) -> object | None:
        from lakestacks.data.tables import table_info

        return table_info(ctx.catalog.table_path(_section(ctx.resolved).table)).version

    def reuse(self, ctx: RunContext, recorded: Mapping[str, Any]) -> RowCountResult | None:
        return RowCountResult(**recorded)

    def summary(self, result: RowCountResult) -> list[str]:
        return [f"row_count: {result.table} v{result.version} has {result.rows:,} rows"]
