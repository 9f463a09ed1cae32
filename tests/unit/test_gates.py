"""Gate decisions on both sides of every boundary, custom gates, and the verdict of each mode."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from lakestacks.errors import UserError
from lakestacks.gates import FIRST_MODEL, Decision, decide, verdict
from lakestacks.spec.evaluation import EvaluationSection, Gate

NAN = float("nan")


def section(
    gates: list[dict[str, Any]],
    mode: str = "enforce",
    metrics: list[str] | None = None,
    search: list[str] | None = None,
    **extra: Any,
) -> EvaluationSection:
    body = {"metrics": metrics or ["roc_auc", "log_loss"], "gates": gates, "mode": mode, **extra}
    return EvaluationSection.model_validate(body, context={"search_path": search or []})


def one(
    gate: dict[str, Any],
    challenger: dict[str, float],
    champion: dict[str, float] | None = None,
    **kwargs: Any,
) -> Decision:
    (decision,) = decide(section([gate]), challenger, champion, **kwargs)
    return decision


# --- min / max / range --------------------------------------------------------------------


def test_min_passes_at_exactly_the_bound_and_fails_just_below() -> None:
    gate = {"metric": "roc_auc", "min": 0.75}
    at = one(gate, {"roc_auc": 0.75})
    assert at.passed and at.kind == "min" and at.threshold == 0.75 and at.observed == 0.75
    assert at.reason == "roc_auc 0.7500 >= 0.75"
    assert at.gate == "roc_auc >= 0.75" and at.mode == "enforce"
    below = one(gate, {"roc_auc": math.nextafter(0.75, 0)})
    assert not below.passed
    assert below.reason == "roc_auc 0.7500 is below the minimum 0.75"


def test_max_passes_at_exactly_the_bound_and_fails_just_above() -> None:
    gate = {"metric": "log_loss", "max": 0.4}
    at = one(gate, {"log_loss": 0.4})
    assert at.passed and at.kind == "max" and at.reason == "log_loss 0.4000 <= 0.4"
    above = one(gate, {"log_loss": math.nextafter(0.4, 1)})
    assert not above.passed and above.threshold == 0.4
    assert above.reason == "log_loss 0.4000 is above the maximum 0.4"


@pytest.mark.parametrize(
    ("value", "passed", "threshold"),
    [
        (0.7, True, 0.7),
        (0.95, True, 0.7),
        (0.8, True, 0.7),
        (math.nextafter(0.7, 0), False, 0.7),
        (math.nextafter(0.95, 1), False, 0.95),
    ],
)
def test_range_holds_both_bounds(value: float, passed: bool, threshold: float) -> None:
    d = one({"metric": "roc_auc", "min": 0.7, "max": 0.95}, {"roc_auc": value})
    assert d.kind == "range" and d.passed is passed and d.threshold == threshold
    assert d.gate == "roc_auc >= 0.7 and <= 0.95"
    if passed:
        assert d.reason.endswith("is within [0.7, 0.95]")


def test_nan_fails_a_threshold_gate() -> None:
    d = one({"metric": "roc_auc", "min": 0.0}, {"roc_auc": NAN})
    assert not d.passed and d.reason == "roc_auc is NaN (undefined on this data)"


def test_gate_on_a_metric_not_computed_is_a_user_error() -> None:
    with pytest.raises(UserError, match="reads metric 'roc_auc', which was not computed"):
        one({"metric": "roc_auc", "min": 0.5}, {"log_loss": 0.3})


# --- vs champion --------------------------------------------------------------------------


def test_a_tie_with_the_champion_is_no_improvement_unless_allow_tie() -> None:
    for gate in ({"metric": "roc_auc", "vs": "champion", "min_delta": 0.0},
                 {"metric": "roc_auc", "vs": "champion"}):  # fmt: skip
        d = one(gate, {"roc_auc": 0.8123}, {"roc_auc": 0.8123}, champion_version=3)
        assert not d.passed and d.kind == "vs_champion" and d.threshold == 0.8123
        assert d.champion_value == 0.8123 and d.champion_version == 3
        assert d.reason == "roc_auc 0.8123 only ties the champion's 0.8123 + 0.0 (v3)"
        assert d.gate == "roc_auc vs champion"
        tie = one({**gate, "allow_tie": True}, {"roc_auc": 0.8123}, {"roc_auc": 0.8123})
        assert tie.passed and tie.reason == "roc_auc 0.8123 >= the champion's 0.8123 + 0.0"
    better = one({"metric": "roc_auc", "vs": "champion"}, {"roc_auc": 0.8124}, {"roc_auc": 0.8123})
    assert better.passed and ">=" in better.reason
    lower = one({"metric": "log_loss", "vs": "champion"}, {"log_loss": 0.3}, {"log_loss": 0.3})
    assert not lower.passed and "only ties" in lower.reason


def test_allow_tie_needs_vs_champion() -> None:
    with pytest.raises(ValidationError, match="'allow_tie' needs 'vs: champion'"):
        Gate.model_validate({"metric": "roc_auc", "min": 0.5, "allow_tie": True})


def test_below_the_champion_fails() -> None:
    d = one(
        {"metric": "roc_auc", "vs": "champion", "min_delta": 0.0},
        {"roc_auc": 0.8010},
        {"roc_auc": 0.8123},
        champion_version=3,
    )
    assert not d.passed
    assert d.reason == "roc_auc 0.8010 is below the champion's 0.8123 + 0.0 (v3)"


def test_min_delta_just_short_fails_and_reaching_it_passes() -> None:
    gate = {"metric": "roc_auc", "vs": "champion", "min_delta": 0.01}
    target = 0.70 + 0.01
    short = one(gate, {"roc_auc": math.nextafter(target, 0)}, {"roc_auc": 0.70})
    assert not short.passed and short.threshold == target
    # same at 4 decimals: the reason shows enough digits to tell them apart
    assert short.reason == (
        f"roc_auc {math.nextafter(target, 0)!r} is below the champion's 0.7 + 0.01 = {target!r}"
    )
    assert one(gate, {"roc_auc": target}, {"roc_auc": 0.70}).passed
    assert one(gate, {"roc_auc": 0.72}, {"roc_auc": 0.70}).passed


def test_min_delta_rel_scales_with_the_champion() -> None:
    gate = {"metric": "roc_auc", "vs": "champion", "min_delta_rel": 0.1}
    target = 0.5 + 0.1 * 0.5
    passed = one(gate, {"roc_auc": target}, {"roc_auc": 0.5}, champion_version=2)
    assert passed.passed and passed.threshold == target
    assert passed.reason == "roc_auc 0.5500 >= the champion's 0.5000 + 10% (0.0500) = 0.5500 (v2)"
    assert not one(gate, {"roc_auc": math.nextafter(target, 0)}, {"roc_auc": 0.5}).passed


def test_min_delta_rel_uses_the_champions_magnitude() -> None:
    # r2 can be negative: improvement is still upwards, by r * |champion|
    s = section([{"metric": "r2", "vs": "champion", "min_delta_rel": 0.5}], metrics=["r2"])
    (d,) = decide(s, {"r2": -0.1}, {"r2": -0.2})
    assert d.passed and d.threshold == pytest.approx(-0.1)
    (d,) = decide(s, {"r2": -0.11}, {"r2": -0.2})
    assert not d.passed


def test_lower_is_better_flips_for_log_loss() -> None:
    gate = {"metric": "log_loss", "vs": "champion", "min_delta": 0.02}
    target = 0.40 - 0.02
    ok = one(gate, {"log_loss": target}, {"log_loss": 0.40}, champion_version=5)
    assert ok.passed and ok.threshold == target
    assert ok.reason == "log_loss 0.3800 <= the champion's 0.4000 - 0.02 = 0.3800 (v5)"
    worse = one(gate, {"log_loss": 0.41}, {"log_loss": 0.40}, champion_version=5)
    assert not worse.passed
    assert worse.reason == "log_loss 0.4100 is above the champion's 0.4000 - 0.02 = 0.3800 (v5)"
    # with no delta, a higher log loss fails, an equal one ties (fails), a lower one passes
    zero = {"metric": "log_loss", "vs": "champion"}
    assert not one(zero, {"log_loss": 0.40}, {"log_loss": 0.40}).passed
    assert one({**zero, "allow_tie": True}, {"log_loss": 0.40}, {"log_loss": 0.40}).passed
    assert one(zero, {"log_loss": math.nextafter(0.40, 0)}, {"log_loss": 0.40}).passed
    assert not one(zero, {"log_loss": math.nextafter(0.40, 1)}, {"log_loss": 0.40}).passed


def test_negative_min_delta_tolerates_a_small_regression() -> None:
    gate = {"metric": "roc_auc", "vs": "champion", "min_delta": -0.01}
    d = one(gate, {"roc_auc": 0.795}, {"roc_auc": 0.80})
    assert d.passed and d.reason == "roc_auc 0.7950 >= the champion's 0.8000 - 0.01 = 0.7900"


def test_custom_metric_with_greater_is_better_false_flips(
    user_module: Callable[[str], tuple[str, list[str]]],
) -> None:
    module, search = user_module("def cost(y_true, y_pred):\n    return 0.0\n")
    s = section(
        [{"metric": "cost", "vs": "champion", "min_delta": 1.0}],
        metrics=["rmse"],
        search=search,
        custom_metrics={"cost": {"function": f"{module}:cost", "greater_is_better": False}},
    )
    (better,) = decide(s, {"cost": 9.0}, {"cost": 10.0})
    assert better.passed and better.threshold == 9.0
    (worse,) = decide(s, {"cost": 9.5}, {"cost": 10.0})
    assert not worse.passed and "is above the champion's" in worse.reason


def test_first_model_passes_vs_champion_gates() -> None:
    d = one({"metric": "roc_auc", "vs": "champion", "min_delta": 0.05}, {"roc_auc": 0.6}, None)
    assert d.passed and d.reason == FIRST_MODEL
    assert d.reason == "no champion yet: the first model passes 'vs champion' gates"
    assert d.threshold is None and d.champion_value is None and d.champion_version is None


def test_nan_fails_vs_champion_even_for_the_first_model() -> None:
    for champion in (None, {"roc_auc": 0.8}):
        d = one({"metric": "roc_auc", "vs": "champion"}, {"roc_auc": NAN}, champion)
        assert not d.passed and d.reason == "roc_auc is NaN (undefined on this data)"


def test_nan_champion_fails_closed() -> None:
    d = one({"metric": "roc_auc", "vs": "champion"}, {"roc_auc": 0.8}, {"roc_auc": NAN})
    assert not d.passed and "the champion's roc_auc is NaN" in d.reason


def test_champion_without_the_metric_fails_closed() -> None:
    d = one(
        {"metric": "roc_auc", "vs": "champion"},
        {"roc_auc": 0.9},
        {"f1": 0.7},
        champion_version=4,
    )
    assert not d.passed and d.champion_value is None
    assert d.reason == (
        "the champion (v4) has no roc_auc to compare with: it was evaluated without it"
    )


# --- custom gates -------------------------------------------------------------------------


GATES = """
def as_bool(challenger, champion, floor=0.5):
    return challenger["roc_auc"] >= floor

def as_tuple(challenger, champion):
    if champion is None:
        return True, "first model"
    gap = challenger["roc_auc"] - champion["roc_auc"]
    return gap > -0.01, f"gap {gap:+.3f}"

def as_numpy(challenger, champion):
    import numpy as np
    return np.float64(challenger["roc_auc"]) > 0.5

def raises(challenger, champion):
    challenger["roc_auc"] = 0.0  # must not leak into later gates
    raise KeyError("latency_ms")

def wrong(challenger, champion):
    return "yes"

def wrong_tuple(challenger, champion):
    return (True, 3)
"""


def custom_section(
    user_module: Callable[[str], tuple[str, list[str]]], *names: str, mode: str = "enforce"
) -> tuple[EvaluationSection, list[str], str]:
    module, search = user_module(GATES)
    gates = [{"function": f"{module}:{name}"} for name in names]
    return section(gates, mode=mode, search=search), search, module


def test_custom_gate_returning_a_bool(user_module: Callable[[str], tuple[str, list[str]]]) -> None:
    module, search = user_module(GATES)
    s = section(
        [{"function": f"{module}:as_bool", "params": {"floor": 0.9}, "name": "floor"}],
        search=search,
    )
    (d,) = decide(s, {"roc_auc": 0.8}, None, search_path=search)
    assert not d.passed and d.kind == "custom" and d.gate == "floor" and d.metric is None
    assert d.reason == f"gate function {module}:as_bool returned False"
    (d,) = decide(s, {"roc_auc": 0.95}, None, search_path=search)
    assert d.passed


def test_custom_gate_returning_a_tuple_and_numpy_bool(
    user_module: Callable[[str], tuple[str, list[str]]],
) -> None:
    s, search, module = custom_section(user_module, "as_tuple", "as_numpy")
    first, np_bool = decide(s, {"roc_auc": 0.8}, None, search_path=search)
    assert first.passed and first.reason == "first model"
    assert first.gate == f"{module}:as_tuple"
    assert np_bool.passed and np_bool.reason.endswith("returned True")
    (worse, _) = decide(
        s, {"roc_auc": 0.7}, {"roc_auc": 0.8}, champion_version=2, search_path=search
    )
    assert not worse.passed and worse.reason == "gap -0.100" and worse.champion_version == 2


def test_custom_gate_that_raises_fails_closed(
    user_module: Callable[[str], tuple[str, list[str]]],
) -> None:
    s, search, module = custom_section(user_module, "raises", "as_bool")
    challenger = {"roc_auc": 0.8}
    raised, after = decide(s, challenger, None, search_path=search)
    assert not raised.passed
    assert raised.reason == f"gate function {module}:raises raised KeyError: 'latency_ms'"
    assert after.passed and challenger == {"roc_auc": 0.8}


@pytest.mark.parametrize("name", ["wrong", "wrong_tuple"])
def test_custom_gate_returning_the_wrong_type_is_a_user_error(
    user_module: Callable[[str], tuple[str, list[str]]], name: str
) -> None:
    s, search, module = custom_section(user_module, name)
    with pytest.raises(UserError, match=rf"gate function {module}:{name} returned (str|tuple); "):
        decide(s, {"roc_auc": 0.8}, None, search_path=search)


# --- modes and verdicts -------------------------------------------------------------------

MIXED: list[dict[str, Any]] = [
    {"metric": "roc_auc", "min": 0.75},
    {"metric": "roc_auc", "vs": "champion"},
    {"metric": "log_loss", "max": 0.5},
]


def test_mode_off_decides_nothing() -> None:
    assert decide(section(MIXED, mode="off"), {"roc_auc": NAN}, None) == []
    v = verdict([], "off")
    assert v.passed and v.blocking == [] and v.recorded_failures == []


def test_enforce_blocks_on_any_failure() -> None:
    decisions = decide(section(MIXED), {"roc_auc": 0.7, "log_loss": 0.3}, {"roc_auc": 0.72})
    assert [d.passed for d in decisions] == [False, False, True]
    v = verdict(decisions, "enforce")
    assert not v.passed
    assert v.blocking == decisions[:2] and v.recorded_failures == decisions[:2]
    ok = decide(section(MIXED), {"roc_auc": 0.8, "log_loss": 0.3}, {"roc_auc": 0.79})
    assert verdict(ok, "enforce") == verdict([], "enforce")
    assert verdict(ok, "enforce").passed


def test_dry_run_records_failures_without_blocking() -> None:
    decisions = decide(section(MIXED, mode="dry_run"), {"roc_auc": 0.7, "log_loss": 0.9}, None)
    assert all(d.mode == "dry_run" for d in decisions)
    v = verdict(decisions, "dry_run")
    assert v.passed and v.blocking == []
    assert [d.gate for d in v.recorded_failures] == ["roc_auc >= 0.75", "log_loss <= 0.5"]


def test_unknown_mode_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown gate mode 'strict'"):
        verdict([], "strict")


def test_to_record_is_flat_strict_json() -> None:
    decisions = decide(
        section(MIXED), {"roc_auc": NAN, "log_loss": 0.3}, {"roc_auc": 0.8}, champion_version=7
    )
    records = [d.to_record() for d in decisions]
    json.dumps(records, allow_nan=False)  # NaN became None
    assert records[0]["observed"] is None and "NaN" in records[0]["reason"]
    assert set(records[1]) == {
        "gate", "kind", "metric", "observed", "threshold", "passed", "reason", "mode",
        "champion_value", "champion_version",
    }  # fmt: skip
    assert records[2] == {
        "gate": "log_loss <= 0.5",
        "kind": "max",
        "metric": "log_loss",
        "observed": 0.3,
        "threshold": 0.5,
        "passed": True,
        "reason": "log_loss 0.3000 <= 0.5",
        "mode": "enforce",
        "champion_value": None,
        "champion_version": None,
    }
