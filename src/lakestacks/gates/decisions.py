"""Model gates: one decision per gate of ``evaluation.gates``, and the verdict of a mode.

DESIGN's semantics: ``min`` passes at ``>=``, ``max`` at ``<=``; ``vs: champion`` needs the
challenger to reach the champion plus ``min_delta`` (or ``min_delta_rel`` times the champion's
magnitude), flipped for metrics where lower is better, and a value equal to the champion's is
no improvement whatever the delta, unless the gate says ``allow_tie: true``. Comparisons are
exact: reruns are deterministic, so a retrained identical model ties its champion, and by
default that tie keeps the champion. Undefined values (NaN) and anything missing fail closed.
``enforce`` blocks on a failure, ``dry_run`` records it and goes on, ``off`` decides nothing."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from lakestacks.errors import UserError
from lakestacks.spec._refs import load_ref
from lakestacks.spec.evaluation import EvaluationSection, Gate

__all__ = ["FIRST_MODEL", "Decision", "Verdict", "decide", "verdict"]

Kind = Literal["min", "max", "range", "vs_champion", "custom"]

FIRST_MODEL = "no champion yet: the first model passes 'vs champion' gates"


@dataclass(frozen=True)
class Decision:
    """What one gate decided about the challenger, and why.

    Attributes:
        gate: The gate's label (``Gate.label``), e.g. ``roc_auc >= 0.75``.
        kind: ``min``, ``max``, ``range`` (both bounds), ``vs_champion`` or ``custom``.
        metric: The metric the gate reads; None for a custom gate.
        observed: The challenger's value of ``metric``; None when absent or custom.
        threshold: The value to reach: the bound (for a range, the bound that failed, else
            ``min``), or for ``vs_champion`` the champion's value plus or minus the delta.
        passed: Whether the challenger passed this gate.
        reason: One sentence saying why.
        mode: The section's mode, ``enforce`` or ``dry_run``.
        champion_value: The champion's value of ``metric`` when compared with one.
        champion_version: The champion's registry version, when there is one.
    """

    gate: str
    kind: Kind
    metric: str | None
    observed: float | None
    threshold: float | None
    passed: bool
    reason: str
    mode: str
    champion_value: float | None = None
    champion_version: int | None = None

    def to_record(self) -> dict[str, Any]:
        """The decision as a flat JSON-safe dict, for MLflow tags and a Delta table row.

        NaN and infinite values become None (strict JSON has no NaN); the reason keeps them.

        Example:
            >>> Decision("r2 >= 0.5", "min", "r2", 0.7, 0.5, True, "r2 0.7000 >= 0.5",
            ...          "enforce").to_record()["passed"]
            True
        """
        record = asdict(self)
        for key in ("observed", "threshold", "champion_value"):
            value = record[key]
            if value is not None and not math.isfinite(value):
                record[key] = None
        return record


@dataclass(frozen=True)
class Verdict:
    """The outcome of a mode over all decisions.

    Attributes:
        passed: False only when a decision blocks (in ``enforce`` mode).
        blocking: The failed decisions that stop promotion (``enforce`` only).
        recorded_failures: Every failed decision, in ``enforce`` and ``dry_run`` alike.
    """

    passed: bool
    blocking: list[Decision]
    recorded_failures: list[Decision]


def _num(x: float) -> str:
    """An observed value: four decimals in the usual range, four significant digits beyond."""
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.4f}"
    return f"{x:.4g}"


def _nums(*xs: float) -> list[str]:
    """Values shown side by side, with enough digits that unequal values never print the same."""
    shown = [_num(x) for x in xs]
    for i, a in enumerate(xs):
        for j, b in enumerate(xs):
            if a != b and shown[i] == shown[j]:
                return [repr(x) for x in xs]
    return shown


def _given(x: float) -> str:
    """A number the user wrote in the stack, shown as written (0.75, not 0.7500)."""
    return f"{x:g}" if float(f"{x:g}") == x else repr(x)


def _nan_reason(metric: str) -> str:
    return f"{metric} is NaN (undefined on this data)"


def _observed(gate: Gate, metric: str, challenger: Mapping[str, float]) -> float:
    if metric not in challenger:
        raise UserError(
            f"gate {gate.label!r} reads metric {metric!r}, which was not computed; "
            "add it to evaluation.metrics or custom_metrics"
        )
    return float(challenger[metric])


def _bounds(gate: Gate, metric: str, observed: float, mode: str) -> Decision:
    lo, hi = gate.min, gate.max
    kind: Kind = (
        "range" if lo is not None and hi is not None else "min" if lo is not None else "max"
    )

    def decision(threshold: float | None, passed: bool, reason: str) -> Decision:
        return Decision(gate.label, kind, metric, observed, threshold, passed, reason, mode)

    if math.isnan(observed):
        return decision(lo if lo is not None else hi, False, _nan_reason(metric))
    shown = _num(observed)
    if lo is not None and not observed >= lo:
        return decision(lo, False, f"{metric} {shown} is below the minimum {_given(lo)}")
    if hi is not None and not observed <= hi:
        return decision(hi, False, f"{metric} {shown} is above the maximum {_given(hi)}")
    if lo is not None and hi is not None:
        return decision(lo, True, f"{metric} {shown} is within [{_given(lo)}, {_given(hi)}]")
    if lo is not None:
        return decision(lo, True, f"{metric} {shown} >= {_given(lo)}")
    assert hi is not None  # noqa: S101 -- the spec requires min or max without vs
    return decision(hi, True, f"{metric} {shown} <= {_given(hi)}")


def _vs_champion(
    section: EvaluationSection,
    gate: Gate,
    metric: str,
    observed: float,
    champion: Mapping[str, float] | None,
    version: int | None,
) -> Decision:
    def decision(
        passed: bool, reason: str, threshold: float | None = None, value: float | None = None
    ) -> Decision:
        return Decision(
            gate.label, "vs_champion", metric, observed, threshold, passed, reason,
            section.mode, value, version,
        )  # fmt: skip

    if math.isnan(observed):
        return decision(False, _nan_reason(metric))
    if champion is None:
        return decision(True, FIRST_MODEL)
    of = f"the champion (v{version})" if version is not None else "the champion"
    if metric not in champion:
        return decision(False, f"{of} has no {metric} to compare with: it was evaluated without it")
    value = float(champion[metric])
    if math.isnan(value):
        return decision(False, f"{of}'s {metric} is NaN: nothing to compare with", value=value)

    lower = section.lower_is_better(metric)
    sign = -1.0 if lower else 1.0  # improvement goes down for lower-is-better metrics
    if gate.min_delta_rel is not None:
        delta = gate.min_delta_rel * abs(value)
        step = f"{abs(gate.min_delta_rel) * 100:g}% ({_num(abs(delta))})"
    else:
        delta = gate.min_delta if gate.min_delta is not None else 0.0
        step = repr(abs(delta))
    target = value + sign * delta
    op = "-" if sign * delta < 0 or (delta == 0 and lower) else "+"
    # A tie with the champion is no improvement: the same model retrained would replace the
    # champion with a copy of itself, and @previous would mean nothing. allow_tie lets it pass.
    tie = observed == value and not gate.allow_tie
    passed = (observed <= target if lower else observed >= target) and not tie

    shown, champ, goal = _nums(observed, value, target)
    versioned = f" (v{version})" if version is not None else ""
    reached = f" = {goal}" if delta else ""
    if passed:
        verb = "<=" if lower else ">="
    elif tie:
        verb = "only ties"
    else:
        verb = "is above" if lower else "is below"
    reason = f"{metric} {shown} {verb} the champion's {champ} {op} {step}{reached}{versioned}"
    return decision(passed, reason, target, value)


def _custom(
    gate: Gate,
    fn: Callable[..., Any],
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    mode: str,
    version: int | None,
) -> Decision:
    ref = gate.function or ""

    def decision(passed: bool, reason: str) -> Decision:
        return Decision(gate.label, "custom", None, None, None, passed, reason, mode, None, version)

    try:
        # Copies: a gate function must not change what later gates and the record see.
        result = fn(
            dict(challenger), dict(champion) if champion is not None else None, **gate.params
        )
    except Exception as exc:
        message = " ".join(str(exc).split())
        return decision(False, f"gate function {ref} raised {type(exc).__name__}: {message}")
    if _is_bool(result):
        return decision(bool(result), f"gate function {ref} returned {bool(result)}")
    if (
        isinstance(result, tuple)
        and len(result) == 2
        and _is_bool(result[0])
        and isinstance(result[1], str)
    ):
        return decision(bool(result[0]), result[1])
    raise UserError(
        f"gate function {ref} returned {type(result).__name__}; it must return a bool "
        "or a (bool, reason) tuple"
    )


def _is_bool(value: Any) -> bool:
    # numpy's bool_ is common in user code (``a > b`` on numpy floats); int 0/1 is not a bool.
    return isinstance(value, bool | np.bool_)


def decide(
    section: EvaluationSection,
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    champion_version: int | None = None,
    search_path: Sequence[str] = (),
) -> list[Decision]:
    """Decide each of the section's gates, in order; none when the mode is ``off``.

    Args:
        section: The evaluation section, with its gates and mode.
        challenger: The candidate's metrics.
        champion: The champion's metrics on the same rows, or None for the first model.
        champion_version: The champion's registry version, named in reasons and records.
        search_path: Folders searched first for custom gate functions (the stack's folder).

    Returns:
        One decision per gate, in the order of ``section.gates``.

    Raises:
        UserError: A gate reads a metric that was not computed, a gate function cannot be
            loaded, or it returns something other than a bool or a (bool, reason) tuple. A
            gate function that raises fails its gate instead.

    Example:
        >>> section = EvaluationSection.model_validate(
        ...     {"metrics": ["roc_auc"], "gates": [{"metric": "roc_auc", "vs": "champion"}]})
        >>> [d.reason for d in decide(section, {"roc_auc": 0.81}, {"roc_auc": 0.8},
        ...                           champion_version=3)]
        ["roc_auc 0.8100 >= the champion's 0.8000 + 0.0 (v3)"]
    """
    if section.mode == "off":
        return []
    decisions: list[Decision] = []
    for gate in section.gates:
        if gate.function is not None:
            fn = _load_gate(gate.function, search_path)
            decisions.append(
                _custom(gate, fn, challenger, champion, section.mode, champion_version)
            )
            continue
        metric = gate.metric
        assert metric is not None  # noqa: S101 -- the spec requires metric without function
        observed = _observed(gate, metric, challenger)
        if gate.vs == "champion":
            decisions.append(
                _vs_champion(section, gate, metric, observed, champion, champion_version)
            )
        else:
            decisions.append(_bounds(gate, metric, observed, section.mode))
    return decisions


def _load_gate(ref: str, search_path: Sequence[str]) -> Callable[..., Any]:
    try:
        fn = load_ref(ref, search_path)
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise UserError(
            f"gate function {ref}: cannot load it: {type(exc).__name__}: {message}"
        ) from exc
    if not callable(fn):
        raise UserError(f"gate function {ref} is a {type(fn).__name__}, not a function")
    return fn  # type: ignore[no-any-return]


def verdict(decisions: Sequence[Decision], mode: str) -> Verdict:
    """What the decisions mean in ``mode``: enforce blocks on failures, dry_run records them.

    Args:
        decisions: The gates' decisions (from :func:`decide`).
        mode: ``enforce``, ``dry_run`` or ``off``.

    Returns:
        The verdict: passed unless an enforced decision failed.

    Raises:
        UserError: ``mode`` is not one of the three.

    Example:
        >>> v = verdict(decisions, "dry_run")
        >>> v.passed, len(v.recorded_failures)
        (True, 1)
    """
    if mode == "off":
        return Verdict(passed=True, blocking=[], recorded_failures=[])
    if mode not in ("enforce", "dry_run"):
        raise UserError(f"unknown gate mode {mode!r}; use enforce, dry_run or off")
    failures = [d for d in decisions if not d.passed]
    blocking = failures if mode == "enforce" else []
    return Verdict(passed=not blocking, blocking=blocking, recorded_failures=failures)
