"""Approval and deployment: turn a gate verdict into a champion, or a reason it is not one.

Every move is compare-and-set against the champion the evaluation compared with, and every
outcome is an audit record in ``_audit`` and a tag on the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from lakestacks import registry
from lakestacks.errors import UserError
from lakestacks.flows._records import audit
from lakestacks.flows.evaluation import EvaluationResult
from lakestacks.spec import ResolvedStack

__all__ = ["Decision", "approval", "approve", "deploy", "reject", "rollback"]

TAG = registry.TAG
Status = Literal["promoted", "kept", "rejected", "awaiting_approval"]


@dataclass
class Decision:
    """What happened to the new version, and the champion after it."""

    status: Status
    model: str
    version: int
    champion_before: int | None
    champion_after: int | None
    message: str
    approved_by: str | None = None


def approval(resolved: ResolvedStack, ev: EvaluationResult) -> Decision:
    """Apply the gate verdict and the approval mode: promote, keep, reject or wait.

    A version blocked only by ``vs: champion`` gates is "kept" (exit 0: nothing better);
    one blocked by any other gate is "rejected" (exit 3); in manual mode a version that
    passed waits for `stacks approve` under the ``challenger`` alias (exit 4).
    """
    spec, runtime, cat = resolved.stack, resolved.runtime, resolved.catalog
    registry.configure(runtime.tracking_uri, runtime.registry_uri)
    name, version, before = ev.model, ev.version, ev.champion_version
    if not ev.passed:
        status: Status = "kept" if ev.blocked_only_by_champion else "rejected"
        reasons = "; ".join(
            d["reason"] for d in ev.decisions if not d["passed"] and d["gate"] in ev.blocking
        )
        champion = f"v{before}" if before else "no champion"
        message = (
            f"v{version} not promoted: {reasons}; the champion stays {champion}"
            if status == "kept"
            else f"v{version} rejected by its gates: {reasons}; the champion stays {champion}"
        )
        registry.set_version_tags(name, version, {f"{TAG}status": status})
        audit(
            cat,
            runtime.env,
            name,
            version,
            status,
            reason=reasons,
            champion_before=before,
            champion_after=before,
        )
        return Decision(status, name, version, before, before, message)
    mode = spec.approval.mode if spec.approval else "auto"
    if mode == "manual":
        registry.set_alias(name, registry.CHALLENGER, version)
        registry.set_version_tags(name, version, {f"{TAG}status": "awaiting_approval"})
        audit(cat, runtime.env, name, version, "awaiting_approval", champion_before=before)
        who = spec.approval.approvers if spec.approval else []
        short = cat.short(name)
        return Decision(
            "awaiting_approval",
            name,
            version,
            before,
            before,
            f"v{version} passed its gates and awaits approval"
            + (f" by one of {', '.join(who)}" if who else "")
            + f": stacks approve {short} {version} --by NAME",
        )
    registry.set_version_tags(name, version, {f"{TAG}approval": "auto", f"{TAG}status": "approved"})
    audit(cat, runtime.env, name, version, "approved", by="auto", champion_before=before)
    return Decision("promoted", name, version, before, None, "", approved_by="auto")


def deploy(resolved: ResolvedStack, decision: Decision) -> Decision:
    """Promote an approved version, compare-and-set against the champion it was judged with."""
    runtime, cat = resolved.runtime, resolved.catalog
    registry.configure(runtime.tracking_uri, runtime.registry_uri)
    name, version = decision.model, decision.version
    try:
        move = registry.promote(name, version, decision.champion_before)
    except registry.PromotionRefused as err:
        registry.set_version_tags(name, version, {f"{TAG}status": "promotion_refused"})
        audit(
            cat,
            runtime.env,
            name,
            version,
            "promotion_refused",
            reason=str(err),
            champion_before=decision.champion_before,
        )
        raise
    registry.set_version_tags(
        name, version, {f"{TAG}status": "champion", f"{TAG}promoted_at": move.at.isoformat()}
    )
    audit(
        cat,
        runtime.env,
        name,
        version,
        "promoted",
        by=decision.approved_by,
        champion_before=move.champion_before,
        champion_after=move.champion_after,
    )
    was = f"v{move.champion_before}" if move.champion_before else "no champion"
    decision.champion_after = move.champion_after
    decision.message = f"v{version} is the champion (was {was})"
    return decision


def _awaiting(
    resolved: ResolvedStack, model: str, version: int
) -> tuple[str, registry.ModelVersionInfo]:
    runtime, cat = resolved.runtime, resolved.catalog
    registry.configure(runtime.tracking_uri, runtime.registry_uri)
    name = cat.model_name(model)
    info = registry.get_version(name, version)
    status = info.tags.get(f"{TAG}status", "unknown")
    if status != "awaiting_approval":
        raise UserError(
            f"{name}/{version} is not awaiting approval (its status is {status}); "
            "only a version a manual-approval run left as challenger can be approved or rejected"
        )
    return name, info


def approve(
    resolved: ResolvedStack, model: str, version: int, by: str, reason: str | None
) -> Decision:
    """Record a human approval and promote, if ``by`` may approve and the champion has not
    moved since the evaluation.

    Example:
        >>> approve(s, "churn_model", 3, by="alice", reason="reviewed").status  # doctest: +SKIP
        'promoted'
    """
    spec, runtime, cat = resolved.stack, resolved.runtime, resolved.catalog
    name, info = _awaiting(resolved, model, version)
    approvers = spec.approval.approvers if spec.approval else []
    if approvers and by not in approvers:
        audit(cat, runtime.env, name, version, "approval_refused", by=by, reason="not an approver")
        raise UserError(
            f"{by!r} may not approve {name}: approval.approvers lists {', '.join(approvers)}"
        )
    compared = info.tags.get(f"{TAG}compared_champion", "none")
    before = int(compared) if compared.isdigit() else None
    now = datetime.now(UTC).isoformat()
    registry.set_version_tags(
        name,
        version,
        {
            f"{TAG}approval": "manual",
            f"{TAG}approval.by": by,
            f"{TAG}approval.at": now,
            f"{TAG}approval.reason": reason or "",
        },
    )
    audit(cat, runtime.env, name, version, "approved", by=by, reason=reason, champion_before=before)
    decision = Decision("promoted", name, version, before, None, "", approved_by=by)
    return deploy(resolved, decision)


def reject(
    resolved: ResolvedStack, model: str, version: int, by: str, reason: str | None
) -> Decision:
    """Record a human rejection; the champion stays as it is."""
    runtime, cat = resolved.runtime, resolved.catalog
    name, _ = _awaiting(resolved, model, version)
    now = datetime.now(UTC).isoformat()
    registry.set_version_tags(
        name,
        version,
        {
            f"{TAG}status": "rejected",
            f"{TAG}approval": "rejected",
            f"{TAG}approval.by": by,
            f"{TAG}approval.at": now,
            f"{TAG}approval.reason": reason or "",
        },
    )
    if registry.alias_version(name, registry.CHALLENGER) == version:
        registry.delete_alias(name, registry.CHALLENGER)
    champion = registry.alias_version(name, registry.CHAMPION)
    audit(
        cat,
        runtime.env,
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
        "rejected",
        name,
        version,
        champion,
        champion,
        f"{name}/{version} rejected by {by}; the champion stays {stays}",
        by,
    )


def rollback(
    resolved: ResolvedStack, model: str, by: str | None = None, reason: str | None = None
) -> registry.Move:
    """Move the champion back to the previous one, with an audit record."""
    runtime, cat = resolved.runtime, resolved.catalog
    registry.configure(runtime.tracking_uri, runtime.registry_uri)
    name = cat.model_name(model)
    move = registry.rollback(name)
    registry.set_version_tags(name, move.champion_after, {f"{TAG}status": "champion"})
    if move.champion_before is not None:
        registry.set_version_tags(name, move.champion_before, {f"{TAG}status": "rolled_back"})
    audit(
        cat,
        runtime.env,
        name,
        move.champion_after,
        "rolled_back",
        by=by,
        reason=reason,
        champion_before=move.champion_before,
        champion_after=move.champion_after,
    )
    return move
