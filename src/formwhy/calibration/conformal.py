"""Split-conformal prediction sets with Adaptive Prediction Sets (APS; Romano, Sesia & Candes 2020).

Score of a calibration row (x, y): sort the classes by probability, descending (stable: ties keep the
lower class index first) and take the cumulative mass up to **and including** the true label y. With
``randomized=True`` the true label's own mass is multiplied by U ~ Uniform(0, 1).

``qhat`` is the ``ceil((n + 1)(1 - alpha)) / n`` empirical quantile of the n scores, i.e. the
``r = ceil((n + 1)(1 - alpha))``-th smallest score (the inverse of the empirical CDF, never interpolated):
the finite-sample correction behind ``1 - alpha <= P(y in C(x)) < 1 - alpha + 1 / (n + 1)`` for exchangeable
data (the upper bound needs continuous scores, e.g. ``randomized=True``). If that level exceeds 1 (n too
small for the requested alpha, e.g. n < 9 at alpha = 0.1) then ``qhat = 1.0`` and every set contains all
classes. Note: ``numpy.quantile(scores, r / n, method="higher")`` (as in some reference code) picks index
``ceil((r / n)(n - 1))``, which for r < n is the (r + 1)-th smallest score: one rank more conservative than
needed. The order statistic is taken directly here.

A test set contains every class j whose score (computed the same way as at calibration) is <= qhat, so
the true label is in the set exactly when its score is <= qhat. The top class is always included, so sets
are never empty (this only adds coverage), and ``qhat >= 1`` yields all classes. Sets list classes in
descending probability. Classes absent from the calibration labels need no special treatment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validation import as_labels, check_probs_labels

__all__ = ["APS", "coverage", "mean_set_size"]

# guards float round-off in cumulative sums
_TOL = 1e-12


def _sorted_cumsum(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (order, sorted probs, cumulative sums) with classes sorted by probability, descending."""
    order = np.argsort(-p, axis=1, kind="stable")
    srt = np.take_along_axis(p, order, axis=1)
    return order, srt, np.cumsum(srt, axis=1)


class APS:
    """Split-conformal Adaptive Prediction Sets.

    Args:
        alpha: target miscoverage; sets cover the true label with probability >= 1 - alpha.
        randomized: use the randomized APS score (tighter sets, exact coverage in expectation).
        seed: seed of the generator drawing U for the randomized variant (unused otherwise).

    Attributes (after ``fit``): ``qhat``, ``level`` (``ceil((n + 1)(1 - alpha)) / n``, may exceed 1),
    ``n_cal``, ``n_classes``.
    """

    def __init__(self, alpha: float = 0.1, randomized: bool = False, seed: int = 0) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.alpha = float(alpha)
        self.randomized = bool(randomized)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self.qhat: float | None = None
        self.level: float | None = None
        self.n_cal: int | None = None
        self.n_classes: int | None = None

    def scores(self, probs: ArrayLike, labels: ArrayLike) -> np.ndarray:
        """APS conformity scores of (probs, labels); draws U from the generator when randomized."""
        p, y = check_probs_labels(probs, labels)
        order, srt, cum = _sorted_cumsum(p)
        rank = np.argmax(order == y[:, None], axis=1)
        rows = np.arange(p.shape[0])
        s = cum[rows, rank]
        if self.randomized:
            u = self._rng.uniform(size=p.shape[0])
            s = s - srt[rows, rank] + u * srt[rows, rank]
        return s

    def fit(self, cal_probs: ArrayLike, cal_labels: ArrayLike) -> APS:
        """Compute the calibration scores and ``qhat``."""
        s = self.scores(cal_probs, cal_labels)
        n = int(s.shape[0])
        # the small tolerance keeps e.g. 100 * 0.9 = 90.00000000000001 from rounding up to 91
        rank = math.ceil((n + 1) * (1.0 - self.alpha) - 1e-9)
        self.level = rank / n
        self.qhat = 1.0 if rank > n else float(np.partition(s, rank - 1)[rank - 1])
        self.n_cal = n
        self.n_classes = int(np.asarray(cal_probs).shape[1])
        return self

    def predict_mask(self, probs: ArrayLike) -> np.ndarray:
        """Boolean (n, k) membership matrix of the prediction sets (in original class order)."""
        if self.qhat is None:
            raise ValueError("APS is not fitted")
        p, _ = check_probs_labels(probs, np.zeros(np.asarray(probs).shape[0], dtype=np.int64))
        if self.n_classes is not None and p.shape[1] != self.n_classes:
            raise ValueError(f"expected {self.n_classes} classes, got {p.shape[1]}")
        n, k = p.shape
        if self.qhat >= 1.0:
            return np.ones((n, k), dtype=bool)
        order, srt, cum = _sorted_cumsum(p)
        if self.randomized:
            u = self._rng.uniform(size=(n, 1))
            score = cum - srt + u * srt
        else:
            score = cum
        keep_sorted = score <= self.qhat + _TOL
        keep_sorted[:, 0] = True
        mask = np.zeros((n, k), dtype=bool)
        np.put_along_axis(mask, order, keep_sorted, axis=1)
        return mask

    def predict_sets(self, probs: ArrayLike) -> list[list[int]]:
        """Prediction sets: for each row, the included classes in descending probability (never empty)."""
        mask = self.predict_mask(probs)
        p = np.asarray(probs, dtype=np.float64)
        order = np.argsort(-p, axis=1, kind="stable")
        return [[int(c) for c in order[i] if mask[i, c]] for i in range(p.shape[0])]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        if self.qhat is None:
            raise ValueError("APS is not fitted")
        return {
            "kind": "aps",
            "alpha": self.alpha,
            "randomized": self.randomized,
            "seed": self.seed,
            "qhat": self.qhat,
            "level": self.level,
            "n_cal": self.n_cal,
            "n_classes": self.n_classes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> APS:
        """Rebuild from :meth:`to_dict` output (the randomized generator restarts from ``seed``)."""
        if d.get("kind") != "aps":
            raise ValueError(f"not an APS state: kind={d.get('kind')!r}")
        obj = cls(
            alpha=float(d["alpha"]), randomized=bool(d.get("randomized", False)), seed=int(d.get("seed", 0))
        )
        obj.qhat = float(d["qhat"])
        obj.level = d.get("level")
        obj.n_cal = d.get("n_cal")
        obj.n_classes = d.get("n_classes")
        return obj


def coverage(sets: Sequence[Sequence[int]], labels: ArrayLike) -> float:
    """Fraction of rows whose label is in its prediction set."""
    y = as_labels(labels)
    if len(sets) != y.shape[0]:
        raise ValueError(f"{len(sets)} sets but {y.shape[0]} labels")
    if y.shape[0] == 0:
        raise ValueError("need at least one set")
    return float(np.mean([int(label) in set(s) for s, label in zip(sets, y, strict=True)]))


def mean_set_size(sets: Sequence[Sequence[int]]) -> float:
    """Average number of classes per prediction set."""
    if len(sets) == 0:
        raise ValueError("need at least one set")
    return float(np.mean([len(s) for s in sets]))
