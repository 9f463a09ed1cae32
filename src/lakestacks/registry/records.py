"""What lakestacks records on a model version, typed: its status, where it came from, how it
was judged and approved. One read (:func:`read_record`) and one write (:func:`write_record`);
on the registry the record is a set of ``lakestacks.*`` tags, so MLflow's UI and clients see
it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypedDict, Unpack

__all__ = [
    "TAG",
    "RecordChanges",
    "VersionRecord",
    "VersionStatus",
    "describe_version",
    "read_record",
    "record_tags",
    "write_record",
]

TAG = "lakestacks."  # prefix of every tag we write on runs and versions


class VersionStatus(StrEnum):
    """Where a version stands in the lifecycle."""

    TRAINED = "trained"  # registered, not judged yet
    EVALUATED = "evaluated"  # gates decided
    APPROVED = "approved"  # passed, approved, about to be promoted
    AWAITING_APPROVAL = "awaiting_approval"  # passed; waits for `stacks approve`
    CHAMPION = "champion"  # promoted, and the champion now
    DEMOTED = "demoted"  # was the champion; a later promotion replaced it (see replaced_by)
    KEPT = "kept"  # passed the fixed gates but did not beat the champion
    REJECTED = "rejected"  # a gate or a person said no
    PROMOTION_REFUSED = "promotion_refused"  # the champion moved while it was judged
    ROLLED_BACK = "rolled_back"  # was the champion; `stacks rollback` moved back from it


@dataclass(frozen=True)
class VersionRecord:
    """A version's lifecycle record.

    Attributes:
        status: Where it stands; None for a version lakestacks did not register.
        stack, env, stack_digest, git_sha, run_id: What produced it.
        task: Its task kind (``training.task`` resolved), e.g. ``classification``.
        inputs: The tables it trained on, with their versions.
        metrics, champion_metrics: Test metrics of the version and of the champion it was
            compared with.
        compared_champion: The champion version it was judged against.
        gates: ``passed``, ``failed``, ``failed (dry run)``, ``off`` or ``none``.
        decisions: The gate decisions, as ``_decisions`` rows.
        approval: ``auto``, ``manual`` or ``rejected``; with who, when and why.
        approval_mode, approvers: The approval policy of the stack that registered it (its
            ``approval.mode`` and ``approval.approvers``, empty meaning anyone): what
            `stacks approve` and `stacks reject` check, whatever the stack file says later.
            None for a version registered before policies were recorded.
        promoted_at, rolled_back_at: When it became the champion, when it was rolled back.
        previous_champion: The champion it replaced.
        demoted_at, replaced_by: When a later promotion moved the champion off it, and the
            version that promotion made the champion.
    """

    status: VersionStatus | None = None
    stack: str | None = None
    env: str | None = None
    stack_digest: str | None = None
    git_sha: str | None = None
    run_id: str | None = None
    task: str | None = None
    inputs: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)
    compared_champion: int | None = None
    gates: str | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    approval: str | None = None
    approval_by: str | None = None
    approval_at: str | None = None
    approval_reason: str | None = None
    approval_mode: str | None = None
    approvers: list[str] | None = None
    promoted_at: str | None = None
    rolled_back_at: str | None = None
    previous_champion: int | None = None
    demoted_at: str | None = None
    replaced_by: int | None = None

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> VersionRecord:
        """The record held in a version's tags (unknown or missing tags are left out)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            text = tags.get(_tag(f.name))
            if text is not None:
                values[f.name] = _decode(f.name, text)
        return cls(**values)


class RecordChanges(TypedDict, total=False):
    """The fields :func:`write_record` may set, with their types."""

    status: VersionStatus
    stack: str
    env: str
    stack_digest: str
    git_sha: str
    run_id: str
    task: str
    inputs: dict[str, int]
    metrics: dict[str, float]
    champion_metrics: dict[str, float]
    compared_champion: int | None
    gates: str
    decisions: list[dict[str, Any]]
    approval: str
    approval_by: str
    approval_at: str
    approval_reason: str
    approval_mode: str
    approvers: list[str]
    promoted_at: str
    rolled_back_at: str
    previous_champion: int | None
    demoted_at: str
    replaced_by: int | None


_JSON = frozenset({"inputs", "metrics", "champion_metrics", "decisions", "approvers"})
_VERSIONS = frozenset({"compared_champion", "previous_champion", "replaced_by"})


def _tag(name: str) -> str:
    # approval_by -> lakestacks.approval.by: the tag names MLflow users already see
    if name == "approvers":
        return TAG + "approval.approvers"
    return TAG + (name.replace("approval_", "approval.", 1) if name != "approval" else name)


def _decode(name: str, text: str) -> Any:
    if name in _JSON:
        return json.loads(text)
    if name in _VERSIONS:
        return int(text) if text.isdigit() else None
    if name == "status":
        return VersionStatus(text) if text in VersionStatus._value2member_map_ else None
    return text


def _encode(name: str, value: Any) -> str:
    if name in _JSON:
        return json.dumps(value, default=str)
    if name in _VERSIONS:
        return "none" if value is None else str(value)
    return str(value)


def read_record(name: str, version: int) -> VersionRecord:
    """The lifecycle record of ``name``/``version``.

    Example:
        >>> read_record("main.churn.churn_model", 1).status  # doctest: +SKIP
        <VersionStatus.CHAMPION: 'champion'>
    """
    from lakestacks.registry.models import get_version

    return get_version(name, version).record


def write_record(name: str, version: int, **changes: Unpack[RecordChanges]) -> None:
    """Set some fields of a version's record; the others stay as they are.

    Example:
        >>> write_record("main.churn.churn_model", 3, status=VersionStatus.KEPT)  # doctest: +SKIP
    """
    from lakestacks.registry._setup import client
    from lakestacks.registry.models import set_version_tags

    tags = record_tags(**changes)
    set_version_tags(name, version, tags)
    if "status" in changes or "decisions" in changes:
        # The description is the record as MLflow's UI shows it: redrawn when it changes.
        mlflow_client = client()
        current = mlflow_client.get_model_version(name, str(version))
        record = VersionRecord.from_tags({**dict(current.tags or {}), **tags})
        mlflow_client.update_model_version(name, str(version), describe_version(record))


_VERDICTS = {
    VersionStatus.TRAINED: "trained, not evaluated yet",
    VersionStatus.EVALUATED: "evaluated; the approval step decides next",
    VersionStatus.APPROVED: "approved; being promoted",
    VersionStatus.AWAITING_APPROVAL: "awaiting approval",
    VersionStatus.CHAMPION: "promoted: the champion",
    VersionStatus.DEMOTED: "promoted, then replaced as the champion",
    VersionStatus.KEPT: "not promoted: the champion is still better",
    VersionStatus.REJECTED: "rejected",
    VersionStatus.PROMOTION_REFUSED: "promotion refused: the champion moved while it was judged",
    VersionStatus.ROLLED_BACK: "promoted, then rolled back",
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    # A pipe would end the cell; a newline the row.
    return " ".join(str(value).split()).replace("|", "\\|")


def describe_version(record: VersionRecord) -> str:
    """A version's record as markdown, for its MLflow description: the verdict, then a table
    of its gates (metric, rule, value, champion, passed).

    Example:
        >>> print(describe_version(VersionRecord(status=VersionStatus.KEPT)))
        **Verdict: not promoted: the champion is still better**
    """
    verdict = _VERDICTS.get(record.status, "unknown") if record.status else "unknown"
    if record.status == VersionStatus.DEMOTED and record.replaced_by is not None:
        verdict += f" by v{record.replaced_by}"
    if record.status == VersionStatus.REJECTED and record.approval == "rejected":
        verdict += f" by {record.approval_by}" if record.approval_by else " by a person"
    elif record.approval_by and record.status in (
        VersionStatus.CHAMPION, VersionStatus.DEMOTED, VersionStatus.ROLLED_BACK
    ):  # fmt: skip
        verdict += f" (approved by {record.approval_by})"
    lines = [f"**Verdict: {verdict}**"]
    if record.decisions:
        mode = record.decisions[0].get("mode", "")
        lines += [
            "",
            f"Gates: {record.gates or 'none'}" + (f" (mode {mode})" if mode else ""),
            "",
            "| metric | rule | value | champion | passed |",
            "|---|---|---:|---:|---|",
        ]
        for d in record.decisions:
            champion = _cell(d.get("champion_value"))
            if champion and d.get("champion_version") is not None:
                champion += f" (v{d['champion_version']})"
            lines.append(
                f"| {_cell(d.get('metric'))} | {_cell(d.get('gate'))} | "
                f"{_cell(d.get('observed'))} | {champion} | "
                f"{'yes' if d.get('passed') else 'no'} |"
            )
    elif record.gates:
        lines += ["", f"Gates: {record.gates}"]
    if record.inputs:
        read = ", ".join(f"{table} v{v}" for table, v in sorted(record.inputs.items()))
        lines += ["", f"Trained on {read}" + (f" (stack {record.stack})" if record.stack else "")]
    return "\n".join(lines)


def record_tags(**changes: Unpack[RecordChanges]) -> dict[str, str]:
    """The tags that hold these fields (for a version being registered)."""
    return {_tag(k): _encode(k, v) for k, v in changes.items()}
