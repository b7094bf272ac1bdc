"""Classification and calibration metrics for ``probs`` (n, k) and ``labels`` (n,).

Conventions (apply to every function here):

* ``probs`` is an (n, k) float array whose rows sum to 1 (within 1e-4); ``labels`` an (n,) int array in
  [0, k). The number of classes k is always ``probs.shape[1]``, so classes absent from ``labels`` are still
  counted (confusion matrix rows of zeros, F1 of 0 for an absent class that is never predicted, ...).
* The predicted class is ``probs.argmax(axis=1)`` (first maximum on ties); the top-label confidence is
  ``probs.max(axis=1)``.

Binning (ECE / MCE / reliability diagrams)
-----------------------------------------
``"equal_width"``: edges ``e_j = j / n_bins`` (j = 0..n_bins, each a correctly rounded float division).
Bin j is the half-open interval ``[e_j, e_{j+1})``: left-closed, right-open, exactly like torchmetrics'
``torch.bucketize(conf, linspace(0, 1, n_bins + 1), right=True) - 1``. The only difference from
torchmetrics is the right end: a confidence of exactly 1.0 goes into the **last** bin ``[e_{n-1}, 1]``
(torchmetrics puts it into a hidden extra bin n_bins, Lightning-AI/torchmetrics#3510). A confidence equal
to an edge, e.g. a verbalized 0.8 with 10 bins, belongs to the bin that starts at that edge.

``"equal_mass"``: the samples are sorted by confidence (stable) and split into ``min(n_bins, n)``
contiguous groups whose sizes differ by at most one (``numpy.array_split``); tied confidences may fall on
both sides of a group boundary. Reported edges are midpoints between neighbouring groups (plotting only).

ECE is the count-weighted mean of ``|accuracy(bin) - mean confidence(bin)|`` over non-empty bins; MCE the
maximum of that gap over non-empty bins. ECE on small samples is biased upwards: report it with
:func:`bootstrap_ci` (percentile bootstrap). Note that the bootstrap interval collapses to zero width when
every bin is all right or all wrong (scikit-learn #30664) -- the interval then reflects sampling only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ._validation import as_confidence, check_confidence, check_probs_labels

Binning = Literal["equal_width", "equal_mass"]
BINNINGS: tuple[str, ...] = ("equal_width", "equal_mass")

#: Probabilities are clipped from below at this value in :func:`nll`.
NLL_EPS = 1e-12

__all__ = [
    "BINNINGS",
    "NLL_EPS",
    "Binning",
    "ReliabilityBins",
    "accuracy",
    "bootstrap_ci",
    "brier",
    "classwise_ece",
    "confidence_auroc",
    "confusion_matrix",
    "ece",
    "ece_equal_mass",
    "ece_from_confidence",
    "ece_from_confidence_ci",
    "equal_width_edges",
    "macro_f1",
    "mce",
    "nll",
    "paired_bootstrap_diff",
    "per_class",
    "reliability_bins",
    "summarize",
    "summarize_confidence",
    "top_label_confidence",
]


# --------------------------------------------------------------------------------------------------
# basic helpers


def top_label_confidence(probs: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(confidence, correct)``: the max probability per row and whether its argmax equals the label.

    ``correct`` is a float array of 0.0 / 1.0.
    """
    p, y = check_probs_labels(probs, labels)
    pred = p.argmax(axis=1)
    conf = p[np.arange(p.shape[0]), pred]
    return conf, (pred == y).astype(np.float64)


def _confusion(pred: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def accuracy(probs: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of rows whose argmax equals the label."""
    p, y = check_probs_labels(probs, labels)
    return float(np.mean(p.argmax(axis=1) == y))


def confusion_matrix(probs: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """k x k confusion matrix (int64), rows = true class, columns = predicted class, all k classes.

    Equals ``sklearn.metrics.confusion_matrix(labels, probs.argmax(1), labels=range(k))``.
    """
    p, y = check_probs_labels(probs, labels)
    k = p.shape[1]
    return _confusion(p.argmax(axis=1), y, k)


def _prf_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    pred_pos = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_pos > 0, tp / pred_pos, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = pred_pos + support  # = 2 tp + fp + fn
        f1 = np.where(denom > 0, 2.0 * tp / denom, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def per_class(probs: ArrayLike, labels: ArrayLike) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall``, ``f1`` (float arrays of length k) and ``support`` (int array).

    Matches ``sklearn.metrics.precision_recall_fscore_support(labels, pred, labels=range(k),
    zero_division=0)``: an undefined ratio (no predictions / no support / neither) is reported as 0.
    """
    p, y = check_probs_labels(probs, labels)
    return _prf_from_confusion(_confusion(p.argmax(axis=1), y, p.shape[1]))


def macro_f1(probs: ArrayLike, labels: ArrayLike) -> float:
    """Unweighted mean F1 over all k classes.

    Same as ``sklearn.metrics.f1_score(labels, pred, average="macro", labels=range(k), zero_division=0)``
    (computed from the confusion matrix for speed; a class that is neither present nor predicted scores 0).
    """
    return float(per_class(probs, labels)["f1"].mean())


def nll(probs: ArrayLike, labels: ArrayLike) -> float:
    """Mean negative log-likelihood of the true class, probabilities clipped below at ``NLL_EPS`` = 1e-12.

    Equals ``sklearn.metrics.log_loss(labels, probs, labels=range(k))`` whenever every true-class
    probability is >= 1e-12 (scikit-learn clips at machine epsilon instead, so the two differ only
    for true-class probabilities below 1e-12).
    """
    p, y = check_probs_labels(probs, labels)
    true_p = np.clip(p[np.arange(p.shape[0]), y], NLL_EPS, 1.0)
    return float(-np.mean(np.log(true_p)))


def brier(probs: ArrayLike, labels: ArrayLike) -> float:
    """Multiclass Brier score: mean over samples of the sum over classes of ``(p_ic - 1[y_i = c])**2``.

    Range [0, 2]. Relation to scikit-learn (exact up to float rounding):

    * ``sum(brier_score_loss(labels == c, probs[:, c], pos_label=1) for c in range(k))`` -- the sum of the
      k one-vs-rest binary Brier scores;
    * ``brier_score_loss(labels, probs, labels=range(k), scale_by_half=False)`` (scikit-learn >= 1.7);
    * for k = 2: twice the usual binary ``brier_score_loss(labels, probs[:, 1])``.
    """
    p, y = check_probs_labels(probs, labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def confidence_auroc(confidence: ArrayLike, correct: ArrayLike) -> float | None:
    """AUROC of ``confidence`` for separating correct from wrong predictions; ``None`` with one outcome only.

    Uses ``sklearn.metrics.roc_auc_score(correct, confidence)``. 0.5 means the confidence does not
    discriminate at all (a risk for verbalized confidences, which cluster at 80-100 %).
    """
    c, a = check_confidence(confidence, correct)
    if a.min() == a.max():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(a.astype(np.int64), c))


# --------------------------------------------------------------------------------------------------
# binning


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of a reliability diagram.

    Attributes:
        edges: (n_bins + 1,) bin edges (for equal-mass bins: midpoints between groups; plotting only).
        counts: (n_bins,) number of samples per bin.
        accuracy: (n_bins,) mean correctness per bin (NaN for an empty bin).
        confidence: (n_bins,) mean confidence per bin (NaN for an empty bin).
        binning: ``"equal_width"`` or ``"equal_mass"``.
    """

    edges: np.ndarray
    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray
    binning: str

    @property
    def n_bins(self) -> int:
        """Number of bins actually used."""
        return int(self.counts.shape[0])

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.counts.sum())

    @property
    def gaps(self) -> np.ndarray:
        """``|accuracy - confidence|`` per bin (NaN for empty bins)."""
        return np.abs(self.accuracy - self.confidence)

    @property
    def ece(self) -> float:
        """Count-weighted mean gap over non-empty bins."""
        nonempty = self.counts > 0
        return float(np.sum(self.counts[nonempty] * self.gaps[nonempty]) / self.counts.sum())

    @property
    def mce(self) -> float:
        """Largest gap over non-empty bins."""
        return float(np.max(self.gaps[self.counts > 0]))


def _check_bins(n_bins: int, binning: str) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")


def equal_width_edges(n_bins: int) -> np.ndarray:
    """Edges ``j / n_bins`` for j = 0..n_bins (correctly rounded)."""
    return np.arange(n_bins + 1, dtype=np.float64) / n_bins


def _bin_index(conf: np.ndarray, n_bins: int, binning: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (bin index per sample, edges, number of bins used)."""
    if binning == "equal_width":
        edges = equal_width_edges(n_bins)
        # number of edges <= conf, minus one == torch.bucketize(conf, edges, right=True) - 1
        idx = np.searchsorted(edges, conf, side="right") - 1
        idx = np.minimum(idx, n_bins - 1)  # conf == 1.0 -> last bin (not a hidden extra bin)
        return idx, edges, n_bins
    n = conf.shape[0]
    m = min(n_bins, n)
    order = np.argsort(conf, kind="stable")
    sizes = np.array([len(chunk) for chunk in np.array_split(np.arange(n), m)])
    idx = np.empty(n, dtype=np.int64)
    idx[order] = np.repeat(np.arange(m), sizes)
    sorted_conf = conf[order]
    ends = np.cumsum(sizes)
    inner = (sorted_conf[ends[:-1] - 1] + sorted_conf[ends[:-1]]) / 2.0
    edges = np.concatenate([[0.0], inner, [1.0]])
    return idx, edges, m


def _binned_sums(conf: np.ndarray, correct: np.ndarray, n_bins: int, binning: str):
    idx, edges, m = _bin_index(conf, n_bins, binning)
    counts = np.bincount(idx, minlength=m)
    sum_conf = np.bincount(idx, weights=conf, minlength=m)
    sum_acc = np.bincount(idx, weights=correct, minlength=m)
    return counts, sum_conf, sum_acc, edges


def _ece_mce(conf: np.ndarray, correct: np.ndarray, n_bins: int, binning: str) -> tuple[float, float]:
    counts, sum_conf, sum_acc, _ = _binned_sums(conf, correct, n_bins, binning)
    # sum_b (c_b / n) |acc_b - conf_b| == sum_b |sum_acc_b - sum_conf_b| / n
    ece_val = float(np.sum(np.abs(sum_acc - sum_conf)) / conf.shape[0])
    nonempty = counts > 0
    mce_val = float(np.max(np.abs(sum_acc[nonempty] - sum_conf[nonempty]) / counts[nonempty]))
    return ece_val, mce_val


def reliability_bins(
    confidence: ArrayLike, correct: ArrayLike, n_bins: int = 15, binning: Binning = "equal_width"
) -> ReliabilityBins:
    """Bin per-sample ``confidence`` (in [0, 1]) against ``correct`` (0/1); see the module docstring."""
    _check_bins(n_bins, binning)
    c, a = check_confidence(confidence, correct)
    counts, sum_conf, sum_acc, edges = _binned_sums(c, a, int(n_bins), binning)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(counts > 0, sum_acc / counts, np.nan)
        mean_conf = np.where(counts > 0, sum_conf / counts, np.nan)
    return ReliabilityBins(edges=edges, counts=counts, accuracy=acc, confidence=mean_conf, binning=binning)


# --------------------------------------------------------------------------------------------------
# calibration errors


def ece_from_confidence(
    confidence: ArrayLike, correct: ArrayLike, n_bins: int = 15, binning: Binning = "equal_width"
) -> float:
    """ECE from one confidence per sample (e.g. verbalized) and whether that prediction was right (0/1)."""
    _check_bins(n_bins, binning)
    c, a = check_confidence(confidence, correct)
    return _ece_mce(c, a, int(n_bins), binning)[0]


def ece(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15, binning: Binning = "equal_width") -> float:
    """Top-label expected calibration error (default: 15 equal-width bins, the torchmetrics default).

    With equal-width bins and no confidence of exactly 1.0 this equals torchmetrics
    ``MulticlassCalibrationError(num_classes=k, n_bins=n_bins, norm="l1")``.
    """
    _check_bins(n_bins, binning)
    conf, correct = top_label_confidence(probs, labels)
    return _ece_mce(conf, correct, int(n_bins), binning)[0]


def ece_equal_mass(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    """Top-label ECE with equal-mass (quantile) bins."""
    return ece(probs, labels, n_bins=n_bins, binning="equal_mass")


def mce(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15, binning: Binning = "equal_width") -> float:
    """Maximum calibration error: the largest per-bin gap over non-empty bins.

    With equal-width bins and no confidence of exactly 1.0 this equals torchmetrics
    ``MulticlassCalibrationError(..., norm="max")``.
    """
    _check_bins(n_bins, binning)
    conf, correct = top_label_confidence(probs, labels)
    return _ece_mce(conf, correct, int(n_bins), binning)[1]


def classwise_ece(
    probs: ArrayLike, labels: ArrayLike, n_bins: int = 15, binning: Binning = "equal_width"
) -> float:
    """Class-wise ECE (Kull et al. 2019): the mean over all k classes of the ECE of ``probs[:, c]`` against
    ``labels == c`` (each binned separately). Classes absent from ``labels`` are included."""
    _check_bins(n_bins, binning)
    p, y = check_probs_labels(probs, labels)
    vals = [
        _ece_mce(p[:, c], (y == c).astype(np.float64), int(n_bins), binning)[0] for c in range(p.shape[1])
    ]
    return float(np.mean(vals))


def ece_floor(
    confidence: ArrayLike,
    n_bins: int = 15,
    binning: Binning = "equal_width",
    n_sim: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """The ECE that a **perfectly calibrated** model with exactly these confidences would still show on this many
    samples: ``(mean, upper)`` over ``n_sim`` simulations in which each prediction is right with probability equal
    to its confidence (``upper`` is the ``1 - alpha`` quantile).

    ECE is biased upwards on small sets (every bin's gap is at least its sampling noise), so an observed ECE near
    this floor says the set is too small to show a miscalibration, and a target below it cannot be measured there.
    """
    _check_bins(n_bins, binning)
    _check_boot(n_sim, alpha, name="n_sim")
    c = as_confidence(confidence)
    rng = np.random.default_rng(seed)
    sims = np.array([_ece_mce(c, (rng.random(c.size) < c).astype(np.float64), int(n_bins), binning)[0]
                     for _ in range(n_sim)])
    return float(sims.mean()), float(np.quantile(sims, 1.0 - alpha))


# --------------------------------------------------------------------------------------------------
# bootstrap


def _percentile_interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(lo), float(hi))


def _check_boot(n_boot: int, alpha: float, name: str = "n_boot") -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot < 1:
        raise ValueError(f"{name} must be >= 1, got {n_boot}")


def _bootstrap(
    fn: Callable[..., float | None], arrays: tuple[np.ndarray, ...], n_boot: int, alpha: float, seed: int
) -> tuple[float, float]:
    _check_boot(n_boot, alpha)
    n = arrays[0].shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot, dtype=np.float64)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        v = fn(*(arr[idx] for arr in arrays))
        out[b] = math.nan if v is None else float(v)
    return _percentile_interval(out, alpha)


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray, np.ndarray], float | None],
    probs: ArrayLike,
    labels: ArrayLike,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap ``(lo, hi)`` interval of ``metric_fn(probs, labels)`` at level ``1 - alpha``.

    Rows are resampled with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``). Replicates
    where the metric returns ``None`` or NaN are dropped; ``(nan, nan)`` if all are. Because k is taken
    from ``probs.shape[1]``, resamples missing a class are handled by every metric in this module.
    """
    p, y = check_probs_labels(probs, labels)
    return _bootstrap(metric_fn, (p, y), n_boot, alpha, seed)


def paired_bootstrap_diff(
    metric_fn: Callable[[np.ndarray, np.ndarray], float | None],
    probs_a: ArrayLike,
    probs_b: ArrayLike,
    labels: ArrayLike,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, tuple[float, float]]:
    """``metric(a) - metric(b)`` on the same labelled rows, and its paired percentile-bootstrap interval.

    Each resample draws the same rows for both models, so the interval reflects how much the *difference* varies
    with the sample, not each model's own spread (two separate intervals overlap far more often).
    """
    pa, y = check_probs_labels(probs_a, labels)
    pb, _ = check_probs_labels(probs_b, labels)
    if pa.shape != pb.shape:
        raise ValueError(f"probs_a and probs_b must have the same shape, got {pa.shape} and {pb.shape}")

    def diff(a: np.ndarray, b: np.ndarray, yy: np.ndarray) -> float | None:
        ma, mb = metric_fn(a, yy), metric_fn(b, yy)
        return None if ma is None or mb is None else float(ma) - float(mb)

    point = diff(pa, pb, y)
    return (math.nan if point is None else point), _bootstrap(diff, (pa, pb, y), n_boot, alpha, seed)


def ece_from_confidence_ci(
    confidence: ArrayLike,
    correct: ArrayLike,
    n_bins: int = 15,
    binning: Binning = "equal_width",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of :func:`ece_from_confidence`."""
    _check_bins(n_bins, binning)
    c, a = check_confidence(confidence, correct)
    nb = int(n_bins)
    return _bootstrap(lambda cc, aa: _ece_mce(cc, aa, nb, binning)[0], (c, a), n_boot, alpha, seed)


# --------------------------------------------------------------------------------------------------
# summaries


def summarize(
    probs: ArrayLike,
    labels: ArrayLike,
    n_bins: int = 15,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """All headline metrics in one JSON-serialisable dict.

    Keys: ``n``, ``n_classes``, ``accuracy``, ``accuracy_ci``, ``macro_f1``, ``macro_f1_ci``, ``ece``
    (equal width), ``ece_ci``, ``ece_equal_mass``, ``mce``, ``classwise_ece``, ``nll``, ``brier``,
    ``auroc`` (of the top-label confidence for correctness; ``None`` when all predictions are right or all
    wrong), ``n_bins``, ``binning`` (``"equal_width"``, the binning of ``ece``/``mce``/``classwise_ece``),
    ``ci_level``. Intervals are ``(lo, hi)`` percentile-bootstrap tuples.
    """
    _check_bins(n_bins, "equal_width")
    p, y = check_probs_labels(probs, labels)
    nb, n, k = int(n_bins), p.shape[0], p.shape[1]
    pred = p.argmax(axis=1)
    conf = p[np.arange(n), pred]
    correct = (pred == y).astype(np.float64)
    ece_val, mce_val = _ece_mce(conf, correct, nb, "equal_width")
    # One loop over resamples for the three intervals; the same seed gives the same resamples (and hence the
    # same intervals) as separate bootstrap_ci / ece_from_confidence_ci calls.
    _check_boot(n_boot, alpha)
    rng = np.random.default_rng(seed)
    reps = np.empty((n_boot, 3), dtype=np.float64)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        reps[b, 0] = correct[idx].mean()
        reps[b, 1] = _prf_from_confusion(_confusion(pred[idx], y[idx], k))["f1"].mean()
        reps[b, 2] = _ece_mce(conf[idx], correct[idx], nb, "equal_width")[0]
    return {
        "n": int(n),
        "n_classes": int(k),
        "accuracy": float(correct.mean()),
        "accuracy_ci": _percentile_interval(reps[:, 0], alpha),
        "macro_f1": macro_f1(p, y),
        "macro_f1_ci": _percentile_interval(reps[:, 1], alpha),
        "ece": ece_val,
        "ece_ci": _percentile_interval(reps[:, 2], alpha),
        "ece_equal_mass": _ece_mce(conf, correct, nb, "equal_mass")[0],
        "mce": mce_val,
        "classwise_ece": classwise_ece(p, y, nb),
        "nll": nll(p, y),
        "brier": brier(p, y),
        "auroc": confidence_auroc(conf, correct),
        "n_bins": nb,
        "binning": "equal_width",
        "ci_level": 1.0 - alpha,
    }


def summarize_confidence(
    confidence: ArrayLike,
    correct: ArrayLike,
    n_bins: int = 15,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Summary for one confidence per sample (e.g. verbalized): ECE alone can look fine while AUROC is at
    chance, so both are reported.

    Keys: ``n``, ``accuracy``, ``accuracy_ci``, ``mean_confidence``, ``ece``, ``ece_ci``,
    ``ece_equal_mass``, ``mce``, ``brier`` (binary: mean of ``(confidence - correct)**2``), ``auroc``,
    ``n_bins``, ``binning``, ``ci_level``.
    """
    _check_bins(n_bins, "equal_width")
    c, a = check_confidence(confidence, correct)
    nb = int(n_bins)
    ece_val, mce_val = _ece_mce(c, a, nb, "equal_width")
    return {
        "n": int(c.shape[0]),
        "accuracy": float(a.mean()),
        "accuracy_ci": _bootstrap(lambda _c, aa: float(aa.mean()), (c, a), n_boot, alpha, seed),
        "mean_confidence": float(c.mean()),
        "ece": ece_val,
        "ece_ci": ece_from_confidence_ci(c, a, nb, "equal_width", n_boot, alpha, seed),
        "ece_equal_mass": _ece_mce(c, a, nb, "equal_mass")[0],
        "mce": mce_val,
        "brier": float(np.mean((c - a) ** 2)),
        "auroc": confidence_auroc(c, a),
        "n_bins": nb,
        "binning": "equal_width",
        "ci_level": 1.0 - alpha,
    }
