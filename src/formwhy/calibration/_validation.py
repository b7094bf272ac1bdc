"""Input validation shared by the calibration modules (numpy only)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: Rows of ``probs`` must sum to 1 within this absolute tolerance.
ROW_SUM_ATOL = 1e-4


class CalibrationError(ValueError):
    """Raised when calibration cannot (or should not) be carried out on the given data."""


def as_labels(labels: ArrayLike, n_classes: int | None = None, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 1-D int64 array, checking integrality and (optionally) the range [0, k)."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    elif not np.issubdtype(arr.dtype, np.integer):
        if arr.size and not (np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0)):
            raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
    arr = arr.astype(np.int64, copy=False)
    if n_classes is not None and arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes}), got range [{arr.min()}, {arr.max()}]")
    return arr


def check_probs_labels(probs: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``probs`` (n, k) and ``labels`` (n,); return float64 probs and int64 labels.

    Requirements: n >= 1, k >= 2, finite probabilities in [0, 1] whose rows sum to 1 within
    :data:`ROW_SUM_ATOL`, integer labels in [0, k).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be 2-D (n, k), got shape {p.shape}")
    n, k = p.shape
    if n < 1:
        raise ValueError("need at least one sample")
    if k < 2:
        raise ValueError(f"need at least two classes, got k={k}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contain NaN or inf")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError("probs must lie in [0, 1]")
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=ROW_SUM_ATOL):
        worst = float(np.abs(sums - 1.0).max())
        raise ValueError(f"rows of probs must sum to 1 (max deviation {worst:.3g}); renormalize first")
    y = as_labels(labels, k)
    if y.shape[0] != n:
        raise ValueError(f"probs has {n} rows but labels has {y.shape[0]} entries")
    return p, y


def as_confidence(confidence: ArrayLike) -> np.ndarray:
    """Validate per-sample confidences: 1-D, not empty, finite, in [0, 1]; return a float64 array."""
    c = np.asarray(confidence, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"confidence must be 1-D, got shape {c.shape}")
    if c.shape[0] < 1:
        raise ValueError("need at least one sample")
    if not np.all(np.isfinite(c)) or c.min() < 0.0 or c.max() > 1.0:
        raise ValueError("confidence must be finite and lie in [0, 1]")
    return c


def check_confidence(confidence: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate per-sample confidences in [0, 1] and 0/1 correctness; return float64 arrays."""
    c = as_confidence(confidence)
    a = np.asarray(correct)
    if a.ndim != 1 or a.shape[0] != c.shape[0]:
        raise ValueError(f"correct must be 1-D with {c.shape[0]} entries, got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.all((a == 0.0) | (a == 1.0)):
        raise ValueError("correct must be boolean / 0-1")
    return c, a


def check_logits(logits: ArrayLike, *, allow_neg_inf: bool) -> np.ndarray:
    """Validate an (n, k) logit / log-probability array (float64). ``-inf`` is allowed only on request."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be 2-D (n, k), got shape {z.shape}")
    if z.shape[0] < 1 or z.shape[1] < 2:
        raise ValueError(f"need n >= 1 rows and k >= 2 classes, got shape {z.shape}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("logits contain NaN or +inf")
    if np.isneginf(z).any():
        if not allow_neg_inf:
            raise ValueError("logits contain -inf; clip log-probabilities (e.g. at log(1e-12)) first")
        if np.isneginf(z).all(axis=1).any():
            raise ValueError("a row of logits is entirely -inf")
    return z
