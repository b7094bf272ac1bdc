"""Selective classification: risk-coverage curve and AURC (Geifman & El-Yaniv 2017).

Inputs are a confidence per sample and whether the prediction was correct (for probabilities use
:func:`formwhy.calibration.metrics.top_label_confidence`). Samples are sorted by confidence, descending;
ties keep their input order (stable sort), so with many tied confidences (e.g. verbalized 0.9) the curve
depends on that order.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ._validation import check_confidence

__all__ = ["aurc", "risk_at_coverage", "risk_coverage_curve"]


def risk_coverage_curve(confidence: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(coverage, risk)``, each of length n: after keeping the i most confident samples
    (i = 1..n), coverage is i / n and selective risk the error rate among those i."""
    c, a = check_confidence(confidence, correct)
    order = np.argsort(-c, kind="stable")
    errors = np.cumsum(1.0 - a[order])
    kept = np.arange(1, c.shape[0] + 1, dtype=np.float64)
    return kept / c.shape[0], errors / kept


def aurc(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk-coverage curve: the mean of the n selective risks (lower is better)."""
    return float(np.mean(risk_coverage_curve(confidence, correct)[1]))


def risk_at_coverage(confidence: ArrayLike, correct: ArrayLike, coverage: float) -> float:
    """Selective risk when keeping the ``ceil(coverage * n)`` most confident samples (at least one)."""
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    _, risk = risk_coverage_curve(confidence, correct)
    n = risk.shape[0]
    m = min(n, max(1, math.ceil(coverage * n - 1e-9)))
    return float(risk[m - 1])
