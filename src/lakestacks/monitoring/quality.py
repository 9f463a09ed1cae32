"""Model quality per window: realised from joined labels, and estimated without them.

The estimate is confidence-based (CBPE, as NannyML calls it): a calibrated classifier's
probability p says that a row is positive with chance p, so the expected confusion matrix
at any threshold, and from it the expected accuracy and ROC AUC, follow from the
probabilities alone. Under covariate shift (the inputs move, P(y | x) does not) this tracks
the realised quality before any label arrives.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["estimated", "realised"]

FloatArray = npt.NDArray[np.float64]


def _auc(tpr: FloatArray, fpr: FloatArray) -> float:
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def estimated(probability: FloatArray, threshold: float = 0.5) -> dict[str, float]:
    """Expected accuracy and ROC AUC of a calibrated classifier's probabilities."""
    p = np.clip(probability[np.isfinite(probability)], 0.0, 1.0)
    if p.size == 0:
        return {}
    accuracy = float(np.mean(np.where(p >= threshold, p, 1.0 - p)))
    order = np.argsort(-p, kind="stable")
    tp = np.concatenate([[0.0], np.cumsum(p[order])])
    fp = np.concatenate([[0.0], np.cumsum(1.0 - p[order])])
    positives, negatives = tp[-1], fp[-1]
    out = {"accuracy": accuracy}
    if positives > 0 and negatives > 0:
        out["roc_auc"] = _auc(tp / positives, fp / negatives)
    return out


def realised(
    truth: FloatArray, probability: FloatArray | None, prediction: FloatArray
) -> dict[str, float]:
    """Accuracy and ROC AUC (when both classes occur) of a classifier on labelled rows; for
    a regressor (no probability), RMSE and MAE."""
    if truth.size == 0:
        return {}
    if probability is None:
        error = prediction - truth
        return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}
    out = {"accuracy": float(np.mean((prediction >= 0.5) == (truth >= 0.5)))}
    positives = truth >= 0.5
    if positives.any() and (~positives).any():
        from scipy.stats import rankdata

        ranks = rankdata(probability)  # ties share their mean rank (Mann-Whitney)
        n_pos, n_neg = int(positives.sum()), int((~positives).sum())
        out["roc_auc"] = float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return out
