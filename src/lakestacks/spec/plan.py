"""Plan steps: what one stage reads and writes, as ``stacks plan`` prints it.

The stages themselves (and so the plan's order) come from the stage registry,
``lakestacks.flows.stage``; each describes itself with a :class:`PlanStep`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lakestacks.spec.data import Source

__all__ = ["PlanStep", "describe_source"]


@dataclass(frozen=True)
class PlanStep:
    """One stage of the plan.

    Attributes:
        name: The flow/stage name, e.g. ``data_prep``.
        reads: What it reads: full table names, sources, model references.
        writes: What it writes.
        note: How it behaves under this stack (mode, approval kind).
        later: True for a stage that is validated now but whose runner lands in a later release.
    """

    name: str
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    note: str = ""
    later: bool = False


def describe_source(name: str, source: Source) -> str:
    """One source as the plan lists it, e.g. ``customers <- generator m:f``."""
    if source.generator:
        return f"{name} <- generator {source.generator}"
    if source.table:
        at = f"@v{source.version}" if source.version is not None else ""
        return f"{name} <- table {source.table}{at}"
    return f"{name} <- file {source.path}"
