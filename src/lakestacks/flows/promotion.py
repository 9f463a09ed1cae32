"""Approval and deployment: turn a gate verdict into a champion, or a reason it is not one.

Every move is compare-and-set against the champion the evaluation compared with, and every
outcome is an audit record in ``_audit`` and a tag on the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from lakestacks import registry
from lakestacks.catalog import parse_model_ref
from lakestacks.errors import UserError
from lakestacks.flows._records import audit_events
from lakestacks.flows.context import RunContext
from lakestacks.flows.evaluation import EvaluationResult
from lakestacks.registry import VersionRecord, VersionStatus

__all__ = [
    "Decision",
    "RunStatus",
    "approval",
    "approve",
    "command_hint",
    "deploy",
    "reject",
    "rollback",
]


def command_hint(ctx: RunContext, *words: str) -> str:
    """A ``stacks ...`` command to print as a hint, with the ``--env`` and ``-s`` it needs
    to act on the same stack and environment as the command that printed it.

    Example:
        >>> command_hint(ctx, "approve", "churn_model", "3", "--by", "NAME")  # doctest: +SKIP
        'stacks approve churn_model 3 --by NAME --env prod'
    """
    from lakestacks.spec.loader import DEFAULT_ENV

    parts = ["stacks", *words]
    if ctx.env != DEFAULT_ENV:
        parts += ["--env", ctx.env]
    stack = Path(ctx.resolved.path).absolute()
    here = Path.cwd()
    if stack != here / "stack.yaml":
        shown = stack.relative_to(here) if stack.is_relative_to(here) else stack
        parts += ["-s", str(shown)]
    return " ".join(parts)


class RunStatus(StrEnum):
    """How a run (or an approval) ended: the exit code follows from it."""

    PROMOTED = "promoted"  # a new champion
    KEPT = "kept"  # the champion stays: nothing better (exit 0)
    REJECTED = "rejected"  # a gate or a person said no (exit 3)
    AWAITING_APPROVAL = "awaiting_approval"  # exit 4 until `stacks approve`
    DONE = "done"  # no model was judged (data prep alone, batch scoring)
    UNCHANGED = "unchanged"  # same data, stack and code as the champion: nothing retrained


@dataclass
class Decision:
    """What happened to the new version, and the champion after it."""

    status: RunStatus
    model: str
    version: int
    champion_before: int | None
    champion_after: int | None
    message: str
    approved_by: str | None = None


def approval(ctx: RunContext, ev: EvaluationResult) -> Decision:
    """Apply the gate verdict and the approval mode: promote, keep, reject or wait.

    A version blocked only by ``vs: champion`` gates is "kept" (exit 0: nothing better);
    one blocked by any other gate is "rejected" (exit 3); in manual mode a version that
    passed waits for `stacks approve` under the ``challenger`` alias (exit 4). The mode is
    the one recorded on the version when it was registered. A version already approved (an
    approval whose promotion did not finish) keeps that approval: deployment completes it.
    """
    cat, reg = ctx.catalog, ctx.registry
    name, version, before = ev.model, ev.version, ev.champion_version
    record = reg.read_record(name, version)
    if record.status == VersionStatus.APPROVED:
        return _recorded_approval(ctx, name, version, record)
    if not ev.passed:
        status = RunStatus.KEPT if ev.blocked_only_by_champion else RunStatus.REJECTED
        reasons = "; ".join(d.reason for d in ev.verdict.blocking)
        champion = f"v{before}" if before else "no champion"
        message = (
            f"v{version} not promoted: {reasons}; the champion stays {champion}"
            if status == RunStatus.KEPT
            else f"v{version} rejected by its gates: {reasons}; the champion stays {champion}"
        )
        reg.write_record(name, version, status=VersionStatus(status))
        ctx.audit(
            name,
            version,
            status,
            reason=reasons,
            champion_before=before,
            champion_after=before,
            message=message,
        )
        return Decision(status, name, version, before, before, message)
    mode, who, _ = _policy(ctx, record)
    if mode == "manual":
        reg.set_alias(name, registry.CHALLENGER, version)
        reg.write_record(name, version, status=VersionStatus.AWAITING_APPROVAL)
        message = (
            f"v{version} passed its gates and awaits approval"
            + (f" by one of {', '.join(who)}" if who else "")
            + ": "
            + command_hint(ctx, "approve", cat.short(name), str(version), "--by", "NAME")
        )
        ctx.audit(name, version, "awaiting_approval", champion_before=before, message=message)
        return Decision(RunStatus.AWAITING_APPROVAL, name, version, before, before, message)
    reg.write_record(
        name,
        version,
        approval="auto",
        approval_at=datetime.now(UTC).isoformat(),
        status=VersionStatus.APPROVED,
    )
    ctx.audit(name, version, "approved", by="auto", champion_before=before)
    return Decision(RunStatus.PROMOTED, name, version, before, None, "", approved_by="auto")


def _policy(ctx: RunContext, record: VersionRecord) -> tuple[str, list[str], str]:
    """The approval mode and approvers that govern a version, and where they come from.

    The policy recorded on the version when it was registered; for a version registered
    before policies were recorded, the stack's.
    """
    if record.approval_mode is not None and record.approvers is not None:
        return record.approval_mode, list(record.approvers), "recorded on it when it was registered"
    section = ctx.resolved.stack.approval
    if section is None:
        return "auto", [], "the stack's approval.approvers"
    return section.mode, list(section.approvers), "the stack's approval.approvers"


def _check_decider(
    ctx: RunContext, name: str, version: int, record: VersionRecord, by: str, verb: str
) -> None:
    """Refuse (``UserError``, audited) when ``by`` may not decide on this version."""
    _, approvers, source = _policy(ctx, record)
    if approvers and by not in approvers:
        refused = "approval_refused" if verb == "approve" else "rejection_refused"
        ctx.audit(name, version, refused, by=by, reason="not an approver")
        raise UserError(
            f"{by!r} may not {verb} {ctx.catalog.short(name)}/{version}: only "
            f"{', '.join(approvers)} may (its approvers, {source})"
        )


def _recorded(ctx: RunContext, name: str, version: int, event: str, after: int | None) -> bool:
    """Whether ``_audit`` already holds ``event`` for this version (moving the champion to
    ``after``, when given): a completed step is not recorded twice."""
    return any(
        e["event"] == event and (after is None or e["champion_after"] == after)
        for e in audit_events(ctx.catalog, name, version)
    )


def _recorded_approval(ctx: RunContext, name: str, version: int, record: VersionRecord) -> Decision:
    """The approval a version's record holds, as a decision deployment can complete; the
    ``approved`` row is written only when the interrupted run had not written it."""
    who = record.approval_by or record.approval or "auto"
    before = record.compared_champion
    if not _recorded(ctx, name, version, "approved", None):
        ctx.audit(
            name, version, "approved", by=who, reason=record.approval_reason or None,
            champion_before=before,
        )  # fmt: skip
    at = record.approval_at or "an unknown time"
    message = f"completing the approval of v{version} by {who} recorded at {at}"
    return Decision(RunStatus.PROMOTED, name, version, before, None, message, approved_by=who)


def deploy(ctx: RunContext, decision: Decision) -> Decision:
    """Promote an approved version, compare-and-set against the champion it was judged with.

    Each step is done once however often it is re-run: the version's record says
    ``champion`` only after the aliases moved and the audit holds the promotion, so a run
    that stopped half way leaves it ``approved``, and approving or deploying it again
    finishes the steps that are missing (no second ``promoted`` row, no second move).
    """
    reg = ctx.registry
    name, version = decision.model, decision.version
    try:
        move = reg.promote(name, version, decision.champion_before)
    except registry.PromotionRefused as err:
        reg.write_record(name, version, status=VersionStatus.PROMOTION_REFUSED)
        ctx.audit(
            name,
            version,
            "promotion_refused",
            reason=str(err),
            champion_before=decision.champion_before,
        )
        raise
    was = f"v{move.champion_before}" if move.champion_before else "no champion"
    decision.champion_after = move.champion_after
    done = f"v{version} is the champion (was {was})"
    decision.message = f"{decision.message}; {done}" if decision.message else done
    if not _recorded(ctx, name, version, "promoted", version):
        ctx.audit(
            name,
            version,
            "promoted",
            by=decision.approved_by,
            champion_before=move.champion_before,
            champion_after=move.champion_after,
            message=decision.message,
        )
    old = move.champion_before
    if old is not None and old != version:
        # The old champion's own record says so, and its lineage shows the event.
        reg.write_record(
            name,
            old,
            status=VersionStatus.DEMOTED,
            demoted_at=move.at.isoformat(),
            replaced_by=version,
        )
        if not _recorded(ctx, name, old, "demoted", version):
            ctx.audit(
                name,
                old,
                "demoted",
                by=decision.approved_by,
                reason=f"v{version} promoted; v{old} is @{registry.PREVIOUS}",
                champion_before=old,
                champion_after=version,
            )
    # Last: until this write the version reads `approved`, which re-running completes.
    reg.write_record(name, version, status=VersionStatus.CHAMPION, promoted_at=move.at.isoformat())
    return decision


def _target(ctx: RunContext, model: str, version: int | None) -> tuple[str, int]:
    """The model and version that ``MODEL 3``, ``MODEL/3`` or ``MODEL@challenger`` name."""
    ref = parse_model_ref(model)
    name = ctx.catalog.model_name(ref.name)
    if ref.version is not None or ref.alias is not None:
        if version is not None:
            raise UserError(
                f"{model!r} already names a version; give either {ref.name}/N, "
                f"{ref.name}@alias or {ref.name} N, not both"
            )
        if ref.version is not None:
            return name, ref.version
        return name, ctx.registry.resolve(name, alias=ref.alias).version
    if version is None:
        raise UserError(
            f"which version of {ref.name}? give {ref.name} N, {ref.name}/N or "
            f"{ref.name}@{registry.CHALLENGER}"
        )
    return name, version


def _awaiting(ctx: RunContext, name: str, version: int, record: VersionRecord) -> None:
    """Refuse (``UserError``) unless the version awaits approval."""
    if record.status != VersionStatus.AWAITING_APPROVAL:
        short = ctx.catalog.short(name)
        waiting = ctx.registry.alias_version(name, registry.CHALLENGER)
        if waiting is not None and waiting != version:
            hint = command_hint(ctx, "approve", short, str(waiting), "--by", "NAME")
            which = f"v{waiting} is awaiting approval: {hint}"
        else:
            which = "no version of it is awaiting approval"
        raise UserError(
            f"{short}/{version} is not awaiting approval (its status is "
            f"{record.status or 'unknown'}); {which}"
        )


def approve(
    ctx: RunContext, model: str, version: int | None, by: str, reason: str | None
) -> Decision:
    """Record a human approval and promote, if ``by`` may approve and the champion has not
    moved since the evaluation. ``model`` may name the version itself (``NAME/3``,
    ``NAME@challenger``); then ``version`` is None.

    Who may approve is the ``approvers`` list recorded on the version when it was
    registered (the stack's, for a version registered before policies were recorded). A
    version already approved whose promotion did not finish (a crash) is promoted under
    that approval: approving again completes it and records no second approval.

    Example:
        >>> approve(s, "churn_model", 3, by="alice", reason="reviewed").status  # doctest: +SKIP
        'promoted'
    """
    reg = ctx.registry
    name, version = _target(ctx, model, version)
    record = reg.read_record(name, version)
    if record.status == VersionStatus.APPROVED:
        _check_decider(ctx, name, version, record, by, "approve")
        return deploy(ctx, _recorded_approval(ctx, name, version, record))
    _awaiting(ctx, name, version, record)
    _check_decider(ctx, name, version, record, by, "approve")
    before = record.compared_champion
    # The record says approved (and by whom) before anything moves: a crash from here on
    # leaves a version that `stacks approve` or `stacks run deployment` promotes.
    reg.write_record(
        name,
        version,
        status=VersionStatus.APPROVED,
        approval="manual",
        approval_by=by,
        approval_at=datetime.now(UTC).isoformat(),
        approval_reason=reason or "",
    )
    ctx.audit(name, version, "approved", by=by, reason=reason, champion_before=before)
    decision = Decision(RunStatus.PROMOTED, name, version, before, None, "", approved_by=by)
    return deploy(ctx, decision)


def reject(
    ctx: RunContext, model: str, version: int | None, by: str, reason: str | None
) -> Decision:
    """Record a human rejection; the champion stays as it is (``model`` as for approve).
    Only the version's approvers may reject it, as for approve."""
    reg = ctx.registry
    name, version = _target(ctx, model, version)
    record = reg.read_record(name, version)
    _awaiting(ctx, name, version, record)
    _check_decider(ctx, name, version, record, by, "reject")
    reg.write_record(
        name,
        version,
        status=VersionStatus.REJECTED,
        approval="rejected",
        approval_by=by,
        approval_at=datetime.now(UTC).isoformat(),
        approval_reason=reason or "",
    )
    if reg.alias_version(name, registry.CHALLENGER) == version:
        reg.delete_alias(name, registry.CHALLENGER)
    champion = reg.alias_version(name, registry.CHAMPION)
    ctx.audit(
        name,
        version,
        "rejected",
        by=by,
        reason=reason,
        champion_before=champion,
        champion_after=champion,
    )
    stays = f"v{champion}" if champion else "no champion"
    return Decision(
        RunStatus.REJECTED,
        name,
        version,
        champion,
        champion,
        f"{name}/{version} rejected by {by}; the champion stays {stays}",
        by,
    )


def rollback(
    ctx: RunContext, model: str, by: str | None = None, reason: str | None = None
) -> registry.Move:
    """Move the champion back to the previous one, with an audit record."""
    reg = ctx.registry
    name = ctx.catalog.model_name(model)
    move = reg.rollback(name)
    reg.write_record(name, move.champion_after, status=VersionStatus.CHAMPION)
    if move.champion_before is not None:
        reg.write_record(name, move.champion_before, status=VersionStatus.ROLLED_BACK)
    ctx.audit(
        name,
        move.champion_after,
        "rolled_back",
        by=by,
        reason=reason,
        champion_before=move.champion_before,
        champion_after=move.champion_after,
    )
    return move
