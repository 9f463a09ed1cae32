"""The data prep stage: sources in, checked tables out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakestacks.data.tables import table_exists, table_info
from lakestacks.flows.context import RunContext
from lakestacks.flows.data_prep import DataPrepResult, data_prep
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.resume import source_fingerprints
from lakestacks.flows.stage import BaseStage, Summary, SummaryTable
from lakestacks.quality import index_path
from lakestacks.spec import ResolvedStack
from lakestacks.spec.checks import split_table
from lakestacks.spec.plan import PlanStep, describe_source

__all__ = ["DataPrep"]


class DataPrep(BaseStage):
    """Ingest, transform, validate, split and commit the stack's tables."""

    name = "data_prep"
    order = 10
    sections = ("data",)

    def applies(self, resolved: ResolvedStack) -> bool:
        """Every stack has data."""
        return True

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """Sources read; tables, validations and quarantines written."""
        data, cat = resolved.stack.data, resolved.catalog
        writes = [cat.qualify(s) for s in data.sources]
        writes += [cat.qualify(step.output) for step in data.prep]
        quarantined = [t for t, suite in data.expectations.items() if suite.mode != "off"]
        if data.expectations:
            writes.append(cat.qualify("_validations"))
        modes = sorted({suite.mode for suite in data.expectations.values()})
        note = f"expectations: {', '.join(modes)}" if modes else "no expectations"
        if quarantined:
            note += f"; failing rows -> {', '.join(f'{t}__quarantine' for t in quarantined)}"
        split = split_table(data)
        if data.split and split:
            s = data.split
            note += f"; split {split} by {s.by}: test {s.test:g}, validation {s.validation:g}"
        reads = [describe_source(n, s) for n, s in data.sources.items()]
        return PlanStep(self.name, reads, writes, note)

    def run(self, ctx: RunContext, state: PipelineResult) -> DataPrepResult:
        """Run data prep."""
        return data_prep(ctx.resolved, ctx.runner)

    def resume_inputs(self, ctx: RunContext, state: PipelineResult) -> object | None:
        """What every source holds now."""
        return source_fingerprints(ctx.resolved)

    def reuse(self, ctx: RunContext, recorded: Mapping[str, Any]) -> DataPrepResult | None:
        """The recorded result, if every table it wrote is still at the version it wrote."""
        cat = ctx.catalog
        for name, version in recorded["wrote"].items():
            path = cat.table_path(cat.short(name))
            if not table_exists(path) or table_info(path).version != version:
                return None
        return DataPrepResult(**recorded)

    def summary(self, result: DataPrepResult) -> Summary:
        """The tables written, with rows and checks, and the split."""
        table = SummaryTable(
            "tables", ("table", "version", "rows", "checks"), right=("version", "rows")
        )
        checks = {v["table"]: v for v in result.validations}
        for name, version in result.wrote.items():
            check = checks.get(name)
            state = ""
            if check:
                failed, total = check["failed"], check["checks"]
                state = f"{total - len(failed)}/{total} passed ({check['mode']})"
                if failed:
                    state += f"; failed: {', '.join(dict.fromkeys(failed))}"
            shown = f"{version} (unchanged)" if name in result.unchanged else str(version)
            table.rows.append((name, shown, f"{result.rows.get(name, 0):,}", state))
        for name, rows in result.quarantined.items():
            table.rows.append((name, "", f"{rows:,}", "quarantined rows"))
        out: Summary = [*result.recovered, table]  # a run rolled back comes first
        out.extend(f"data docs: {page}" for page in result.docs)
        if result.docs:  # <folder>/<table>/<page>.html: every validation is in the folder's index
            out.append(f"data docs index: {index_path(Path(result.docs[0]).parents[1])}")
        if result.split:
            counts = ", ".join(f"{k} {v:,}" for k, v in result.split["counts"].items())
            out.append(f"split {result.split['table']} by {result.split['by']}: {counts}")
        return out
