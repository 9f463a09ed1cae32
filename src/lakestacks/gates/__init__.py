"""Model gates: thresholds, comparison with the champion, custom gate functions, verdicts."""

from __future__ import annotations

from lakestacks.gates.decisions import FIRST_MODEL, Decision, Verdict, decide, verdict

__all__ = ["FIRST_MODEL", "Decision", "Verdict", "decide", "verdict"]
