"""Tests for formwhy.calibration.metrics against scikit-learn / torchmetrics and hand computations."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

import formwhy.calibration as cal
from formwhy.calibration import metrics as M

K = 6


def _data(seed: int, n: int = 500, k: int = K, conc: float = 0.5, absent: tuple[int, ...] = ()) -> tuple:
    """Dirichlet probabilities (float32-representable, no exact 1.0) and labels avoiding ``absent``."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, conc), size=n).astype(np.float32).astype(np.float64)
    p = p[p.max(axis=1) < 1.0]
    p /= p.sum(axis=1, keepdims=True)
    allowed = [c for c in range(k) if c not in absent]
    # labels correlated with the argmax so accuracy is neither 0 nor 1
    y = np.where(rng.random(p.shape[0]) < 0.6, p.argmax(axis=1), rng.choice(allowed, size=p.shape[0]))
    y = np.where(np.isin(y, absent), allowed[0], y)
    return p, y.astype(np.int64)


def _naive_ece(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> tuple[float, float, np.ndarray]:
    """Loop implementation of the documented convention: [j/B, (j+1)/B), last bin closed at 1.0."""
    n = conf.shape[0]
    total, worst, counts = 0.0, 0.0, np.zeros(n_bins, dtype=int)
    for j in range(n_bins):
        lo, hi = j / n_bins, (j + 1) / n_bins
        in_bin = (conf >= lo) & (conf < hi)
        if j == n_bins - 1:
            in_bin |= conf == 1.0
        counts[j] = in_bin.sum()
        if counts[j]:
            gap = abs(correct[in_bin].mean() - conf[in_bin].mean())
            total += counts[j] / n * gap
            worst = max(worst, gap)
    return total, worst, counts


# ---------------------------------------------------------------------------------------- sklearn refs


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("absent", [(), (2,), (0, 5)])
def test_accuracy_f1_confusion_match_sklearn(seed: int, absent: tuple[int, ...]) -> None:
    p, y = _data(seed, absent=absent)
    pred = p.argmax(axis=1)
    assert cal.accuracy(p, y) == pytest.approx(np.mean(pred == y), abs=1e-15)
    expected_f1 = f1_score(y, pred, average="macro", labels=range(K), zero_division=0)
    assert cal.macro_f1(p, y) == pytest.approx(expected_f1, abs=1e-12)
    cm = cal.confusion_matrix(p, y)
    assert cm.shape == (K, K)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(y, pred, labels=range(K)))
    for c in absent:
        assert cm[c].sum() == 0
    pc = cal.per_class(p, y)
    prec, rec, f1, sup = precision_recall_fscore_support(y, pred, labels=range(K), zero_division=0)
    np.testing.assert_allclose(pc["precision"], prec, atol=1e-12)
    np.testing.assert_allclose(pc["recall"], rec, atol=1e-12)
    np.testing.assert_allclose(pc["f1"], f1, atol=1e-12)
    np.testing.assert_array_equal(pc["support"], sup)


def test_macro_f1_counts_a_class_never_seen_nor_predicted_as_zero() -> None:
    # 3 classes, class 2 absent and never predicted: F1 = (1 + 1 + 0) / 3
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    y = np.array([0, 1])
    assert cal.macro_f1(p, y) == pytest.approx(2 / 3)
    assert f1_score(y, p.argmax(1), average="macro", labels=range(3), zero_division=0) == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("absent", [(), (1, 3)])
def test_nll_matches_sklearn_log_loss(seed: int, absent: tuple[int, ...]) -> None:
    p, y = _data(seed, conc=1.0, absent=absent)
    assert p[np.arange(len(y)), y].min() > 1e-12
    assert cal.nll(p, y) == pytest.approx(log_loss(y, p, labels=range(K)), rel=1e-9)


def test_nll_clips_at_1e_12() -> None:
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    y = np.array([1, 0])
    assert cal.nll(p, y) == pytest.approx((-math.log(1e-12) - math.log(0.5)) / 2)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("absent", [(), (4,)])
def test_brier_equals_sum_of_one_vs_rest_sklearn_brier(seed: int, absent: tuple[int, ...]) -> None:
    p, y = _data(seed, absent=absent)
    ovr = sum(brier_score_loss((y == c).astype(int), p[:, c], pos_label=1) for c in range(K))
    assert cal.brier(p, y) == pytest.approx(ovr, rel=1e-10)
    multi = brier_score_loss(y, p, labels=list(range(K)), scale_by_half=False)
    assert cal.brier(p, y) == pytest.approx(multi, rel=1e-10)


def test_brier_binary_is_twice_sklearn_binary_brier() -> None:
    rng = np.random.default_rng(3)
    q = rng.random(300)
    p = np.stack([1 - q, q], axis=1)
    y = (rng.random(300) < q).astype(int)
    assert cal.brier(p, y) == pytest.approx(2 * brier_score_loss(y, q), rel=1e-12)


# ----------------------------------------------------------------------------------- torchmetrics refs


@pytest.mark.parametrize("n_bins", [10, 15])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("conc", [0.1, 0.5, 2.0])
def test_ece_and_mce_match_torchmetrics(n_bins: int, seed: int, conc: float) -> None:
    torch = pytest.importorskip("torch")
    tmc = pytest.importorskip("torchmetrics.classification")
    p, y = _data(seed, n=800, conc=conc)
    assert p.max() < 1.0  # torchmetrics puts 1.0 in an extra bin (#3510); tested separately
    pt, yt = torch.tensor(p, dtype=torch.float32), torch.tensor(y)
    ref_l1 = tmc.MulticlassCalibrationError(num_classes=K, n_bins=n_bins, norm="l1")(pt, yt).item()
    ref_max = tmc.MulticlassCalibrationError(num_classes=K, n_bins=n_bins, norm="max")(pt, yt).item()
    # torchmetrics computes in float32, hence the tolerance
    assert cal.ece(p, y, n_bins=n_bins) == pytest.approx(ref_l1, abs=2e-6)
    assert cal.mce(p, y, n_bins=n_bins) == pytest.approx(ref_max, abs=2e-6)
    # and the convention itself, in float64
    conf, correct = cal.top_label_confidence(p, y)
    e, m, _ = _naive_ece(conf, correct, n_bins)
    assert cal.ece(p, y, n_bins=n_bins) == pytest.approx(e, abs=1e-12)
    assert cal.mce(p, y, n_bins=n_bins) == pytest.approx(m, abs=1e-12)


@pytest.mark.parametrize("n_bins", [5, 10, 15, 20])
def test_bin_assignment_matches_torch_bucketize_right_closed(n_bins: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n_bins)
    edges = M.equal_width_edges(n_bins)
    # random values plus every edge except 1.0 (values on an edge open the bin to their right)
    conf = np.concatenate([rng.random(5000), edges[:-1], [0.0, 0.5, 0.8, 0.95, np.nextafter(1.0, 0)]])
    ours, _, _ = M._bin_index(conf, n_bins, "equal_width")
    ref = torch.bucketize(torch.tensor(conf), torch.tensor(edges), right=True).numpy() - 1
    np.testing.assert_array_equal(ours, ref)
    assert ours[np.flatnonzero(conf == 0.0)].tolist() == [0] * int((conf == 0.0).sum())


def test_edge_values_open_the_bin_to_their_right() -> None:
    # verbalized-style confidences sitting on edges with 10 bins
    rb = cal.reliability_bins([0.0, 0.1, 0.8, 0.8, 0.85, 0.9, 1.0], [1, 1, 0, 1, 1, 1, 1], n_bins=10)
    np.testing.assert_array_equal(rb.counts, [1, 1, 0, 0, 0, 0, 0, 0, 3, 2])
    assert rb.accuracy[8] == pytest.approx(2 / 3)
    assert rb.confidence[9] == pytest.approx(0.95)


# ------------------------------------------------------------------------------------------- exact 1.0


def test_confidence_exactly_one_goes_into_last_bin_hand_computed() -> None:
    # one wrong prediction at 1.0, one right at 0.95: both in the last of 15 bins [14/15, 1]
    p = np.array([[1.0, 0.0, 0.0], [0.95, 0.03, 0.02]])
    y = np.array([1, 0])
    # bin: accuracy 0.5, mean confidence 0.975 -> gap 0.475 (a hidden extra bin would give 0.5 + 0.025)
    assert cal.ece(p, y, n_bins=15) == pytest.approx(0.475, abs=1e-12)
    assert cal.mce(p, y, n_bins=15) == pytest.approx(0.475, abs=1e-12)
    conf, correct = cal.top_label_confidence(p, y)
    rb = cal.reliability_bins(conf, correct, n_bins=15)
    assert rb.n_bins == 15 and rb.counts[-1] == 2 and rb.counts.sum() == 2
    assert cal.ece_from_confidence([1.0, 0.95], [0, 1], n_bins=15) == pytest.approx(0.475, abs=1e-12)


def test_all_confident_and_right_gives_zero_ece() -> None:
    p = np.tile([0.0, 1.0, 0.0], (7, 1))
    y = np.ones(7, dtype=int)
    assert cal.ece(p, y) == 0.0
    assert cal.mce(p, y) == 0.0
    assert cal.classwise_ece(p, y) == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_random_data_with_saturated_rows_matches_naive(seed: int) -> None:
    p, y = _data(seed, n=400)
    rng = np.random.default_rng(seed + 100)
    sat = rng.choice(len(y), size=60, replace=False)
    p[sat] = np.eye(K)[rng.integers(0, K, size=60)]
    conf, correct = cal.top_label_confidence(p, y)
    assert (conf == 1.0).sum() == 60
    for n_bins in (10, 15):
        e, m, counts = _naive_ece(conf, correct, n_bins)
        assert cal.ece(p, y, n_bins=n_bins) == pytest.approx(e, abs=1e-12)
        assert cal.mce(p, y, n_bins=n_bins) == pytest.approx(m, abs=1e-12)
        np.testing.assert_array_equal(cal.reliability_bins(conf, correct, n_bins).counts, counts)


# ------------------------------------------------------------------------------------------ other ECEs


def test_equal_mass_bins_hand_example() -> None:
    conf = np.array([0.9, 0.1, 0.6, 0.3, 0.8, 0.7])
    correct = np.array([1, 0, 1, 1, 0, 1])
    rb = cal.reliability_bins(conf, correct, n_bins=3, binning="equal_mass")
    np.testing.assert_array_equal(rb.counts, [2, 2, 2])
    # groups by sorted confidence: {0.1 (0), 0.3 (1)}, {0.6 (1), 0.7 (1)}, {0.8 (0), 0.9 (1)}
    expected = (abs(0.5 - 0.2) + abs(1.0 - 0.65) + abs(0.5 - 0.85)) / 3
    assert rb.ece == pytest.approx(expected)
    assert cal.ece_from_confidence(conf, correct, n_bins=3, binning="equal_mass") == pytest.approx(expected)
    np.testing.assert_allclose(rb.edges, [0.0, 0.45, 0.75, 1.0])


def test_equal_mass_with_fewer_samples_than_bins_uses_one_bin_per_sample() -> None:
    conf = np.array([0.9, 0.4, 0.7])
    correct = np.array([1, 1, 0])
    expected = np.mean(np.abs(correct - conf))
    assert cal.ece_from_confidence(conf, correct, n_bins=15, binning="equal_mass") == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(3))
def test_equal_mass_bins_have_equal_counts(seed: int) -> None:
    p, y = _data(seed, n=301)
    conf, correct = cal.top_label_confidence(p, y)
    rb = cal.reliability_bins(conf, correct, n_bins=15, binning="equal_mass")
    assert rb.counts.max() - rb.counts.min() <= 1
    assert rb.counts.sum() == len(y)
    assert np.all(np.diff(rb.confidence) >= 0)  # groups are ordered by confidence
    assert cal.ece_equal_mass(p, y) == pytest.approx(rb.ece)


@pytest.mark.parametrize("absent", [(), (3,)])
def test_classwise_ece_matches_naive_per_class_average(absent: tuple[int, ...]) -> None:
    p, y = _data(7, n=600, absent=absent)
    vals = [_naive_ece(p[:, c], (y == c).astype(float), 15)[0] for c in range(K)]
    assert cal.classwise_ece(p, y) == pytest.approx(np.mean(vals), abs=1e-12)
    if absent:  # an absent class still contributes: its ECE is its mean predicted probability
        assert vals[absent[0]] == pytest.approx(p[:, absent[0]].mean())


# ---------------------------------------------------------------------------------- n = 1 / validation


def test_single_sample() -> None:
    p = np.array([[0.2, 0.7, 0.1]])
    for y, correct in ((np.array([1]), 1.0), (np.array([2]), 0.0)):
        assert cal.accuracy(p, y) == correct
        assert cal.ece(p, y) == pytest.approx(abs(correct - 0.7))
        assert cal.ece_equal_mass(p, y) == pytest.approx(abs(correct - 0.7))
        assert cal.mce(p, y) == pytest.approx(abs(correct - 0.7))
        assert cal.nll(p, y) == pytest.approx(-math.log(p[0, y[0]]))
        s = cal.summarize(p, y, n_boot=50)
        assert s["auroc"] is None
        assert s["ece_ci"] == pytest.approx((abs(correct - 0.7),) * 2)
        assert s["accuracy_ci"] == (correct, correct)
        json.dumps(s)


@pytest.mark.parametrize(
    "probs,labels",
    [
        (np.array([[0.5, 0.6]]), np.array([0])),  # rows do not sum to 1
        (np.array([[0.5, 0.5]]), np.array([2])),  # label out of range
        (np.array([[0.5, 0.5]]), np.array([0.5])),  # non-integer label
        (np.zeros((0, 3)), np.zeros(0, dtype=int)),  # empty
        (np.array([[0.5, 0.5]]), np.array([0, 1])),  # length mismatch
        (np.array([[1.2, -0.2]]), np.array([0])),  # outside [0, 1]
        (np.array([0.5, 0.5]), np.array([0])),  # not 2-D
    ],
)
def test_invalid_inputs_raise(probs: np.ndarray, labels: np.ndarray) -> None:
    with pytest.raises(ValueError):
        cal.ece(probs, labels)


def test_invalid_bins_raise() -> None:
    p, y = _data(0, n=20)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError):
            cal.ece(p, y, n_bins=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cal.ece(p, y, binning="quantile")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- bootstrap / summary


def test_bootstrap_ci_is_deterministic_and_sensible() -> None:
    p, y = _data(11, n=400)
    acc = cal.accuracy(p, y)
    lo, hi = cal.bootstrap_ci(cal.accuracy, p, y, n_boot=2000, seed=1)
    assert (lo, hi) == cal.bootstrap_ci(cal.accuracy, p, y, n_boot=2000, seed=1)
    assert (lo, hi) != cal.bootstrap_ci(cal.accuracy, p, y, n_boot=2000, seed=2)
    assert lo < acc < hi
    half_width = 1.96 * math.sqrt(acc * (1 - acc) / len(y))  # normal approximation
    assert (hi - lo) / 2 == pytest.approx(half_width, rel=0.15)
    lo90, hi90 = cal.bootstrap_ci(cal.accuracy, p, y, n_boot=2000, alpha=0.1, seed=1)
    assert lo <= lo90 and hi90 <= hi


def test_bootstrap_ci_drops_none_replicates() -> None:
    # 4 right, 1 wrong: about a third of the resamples have no wrong prediction -> AUROC None, dropped
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.55, 0.45]])
    y = np.array([0, 0, 0, 0, 1])

    def auroc(pp: np.ndarray, yy: np.ndarray) -> float | None:
        return cal.confidence_auroc(*cal.top_label_confidence(pp, yy))

    lo, hi = cal.bootstrap_ci(auroc, p, y, n_boot=300)
    assert 0.0 <= lo <= hi <= 1.0 and math.isfinite(lo)
    always_none = cal.bootstrap_ci(lambda pp, yy: None, p, y, n_boot=20)
    assert all(math.isnan(v) for v in always_none)


def test_paired_bootstrap_diff_resamples_the_same_rows() -> None:
    p, y = _data(7, n=200)
    worse = p.copy()
    right = np.flatnonzero(p.argmax(1) == y)[:6]
    worse[right] = np.roll(worse[right], 1, axis=1)  # six traces a gets right, b gets wrong; the rest identical
    assert (worse.argmax(1) != y)[right].all()
    d, (lo, hi) = cal.paired_bootstrap_diff(cal.accuracy, p, worse, y, n_boot=500)
    assert d == pytest.approx(cal.accuracy(p, y) - cal.accuracy(worse, y)) == pytest.approx(6 / 200)
    # paired: b is never right where a is wrong, so no resample can favour b (unpaired intervals would cross 0)
    assert 0.0 <= lo < d < hi
    assert cal.paired_bootstrap_diff(cal.nll, p, p, y, n_boot=50) == (0.0, (0.0, 0.0))
    with pytest.raises(ValueError, match="same shape"):
        cal.paired_bootstrap_diff(cal.accuracy, p, p[:, :4] / p[:, :4].sum(1, keepdims=True), y % 4)


def test_ece_from_confidence_equals_top_label_ece_and_ci() -> None:
    p, y = _data(5, n=300)
    conf, correct = cal.top_label_confidence(p, y)
    assert cal.ece_from_confidence(conf, correct) == pytest.approx(cal.ece(p, y), abs=1e-15)
    ci = cal.ece_from_confidence_ci(conf, correct, n_boot=300)
    assert ci == cal.bootstrap_ci(cal.ece, p, y, n_boot=300)


def test_summarize_keys_values_and_intervals() -> None:
    p, y = _data(9, n=250, absent=(5,))
    s = cal.summarize(p, y, n_bins=10, n_boot=200, seed=3)
    expected_keys = {
        "accuracy", "macro_f1", "ece", "ece_ci", "ece_equal_mass", "mce", "classwise_ece", "nll", "brier",
        "accuracy_ci", "macro_f1_ci", "auroc", "n_bins", "binning",
    }  # fmt: skip
    assert expected_keys <= set(s)
    assert s["n_bins"] == 10 and s["binning"] == "equal_width"
    assert s["ece"] == pytest.approx(cal.ece(p, y, n_bins=10))
    assert s["ece_equal_mass"] == pytest.approx(cal.ece_equal_mass(p, y, n_bins=10))
    assert s["mce"] == pytest.approx(cal.mce(p, y, n_bins=10))
    assert s["nll"] == pytest.approx(cal.nll(p, y)) and s["brier"] == pytest.approx(cal.brier(p, y))
    assert s["accuracy_ci"] == cal.bootstrap_ci(cal.accuracy, p, y, n_boot=200, seed=3)
    assert s["macro_f1_ci"] == cal.bootstrap_ci(cal.macro_f1, p, y, n_boot=200, seed=3)
    assert s["ece_ci"] == cal.bootstrap_ci(lambda a, b: cal.ece(a, b, n_bins=10), p, y, n_boot=200, seed=3)
    conf, correct = cal.top_label_confidence(p, y)
    assert s["auroc"] == pytest.approx(roc_auc_score(correct, conf))
    for key in ("accuracy", "macro_f1", "ece"):
        lo, hi = s[f"{key}_ci"]
        assert 0.0 <= lo < hi <= 1.0
    assert s["accuracy_ci"][0] < s["accuracy"] < s["accuracy_ci"][1]
    json.dumps(s)


def test_auroc_none_with_one_outcome() -> None:
    assert cal.confidence_auroc([0.9, 0.8], [1, 1]) is None
    assert cal.confidence_auroc([0.9, 0.8], [0, 0]) is None
    assert cal.confidence_auroc([0.9, 0.8], [1, 0]) == 1.0


def test_summarize_confidence_for_verbalized() -> None:
    rng = np.random.default_rng(0)
    conf = rng.choice([0.8, 0.85, 0.9, 0.95], size=200)  # clustered, multiples of 5
    correct = (rng.random(200) < 0.87).astype(int)  # unrelated to conf: AUROC near chance
    s = cal.summarize_confidence(conf, correct, n_boot=200)
    assert s["ece"] == pytest.approx(cal.ece_from_confidence(conf, correct))
    assert s["auroc"] == pytest.approx(roc_auc_score(correct, conf))
    assert abs(s["auroc"] - 0.5) < 0.15
    assert s["brier"] == pytest.approx(np.mean((conf - correct) ** 2))
    json.dumps(s)


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    k=st.integers(2, 6),
    n_bins=st.integers(1, 20),
    seed=st.integers(0, 10_000),
    saturate=st.booleans(),
)
def test_properties(n: int, k: int, n_bins: int, seed: int, saturate: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.3), size=n)
    if saturate:
        p[: n // 2] = np.eye(k)[rng.integers(0, k, size=n // 2)]
    y = rng.integers(0, k, size=n)
    e, m = cal.ece(p, y, n_bins), cal.mce(p, y, n_bins)
    assert 0.0 <= e <= m + 1e-12 <= 1.0 + 1e-12
    conf, correct = cal.top_label_confidence(p, y)
    ref_e, ref_m, _ = _naive_ece(conf, correct, n_bins)
    assert e == pytest.approx(ref_e, abs=1e-12) and m == pytest.approx(ref_m, abs=1e-12)
    assert 0.0 <= cal.ece_equal_mass(p, y, n_bins) <= 1.0
    assert 0.0 <= cal.classwise_ece(p, y, n_bins) <= 1.0
    assert 0.0 <= cal.brier(p, y) <= 2.0
    assert cal.confusion_matrix(p, y).sum() == n


# -------------------------------------------------------------------------------------- import hygiene


def test_import_does_not_pull_torch_or_matplotlib() -> None:
    pkg_root = Path(cal.__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(pkg_root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = (
        "import sys, formwhy.calibration as c; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'; "
        "c.reliability_diagram; assert 'matplotlib' in sys.modules; "
        "assert not [m for m in sys.modules if m.startswith('torch')]"
    )
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_ece_floor_matches_the_exact_binomial_expectation() -> None:
    """One confidence value (one bin): ECE = |hits/n - c|, whose expectation under perfect calibration is exact."""
    from scipy.stats import binom

    n, c = 60, 0.8
    k = np.arange(n + 1)
    exact = float(np.sum(binom.pmf(k, n, c) * np.abs(k / n - c)))  # ~0.041
    mean, hi = M.ece_floor(np.full(n, c), n_sim=4000, seed=1)
    assert mean == pytest.approx(exact, abs=0.003)
    gaps = np.abs(k / n - c)
    order = np.argsort(gaps)
    q95 = float(gaps[order][np.searchsorted(np.cumsum(binom.pmf(k, n, c)[order]), 0.95)])  # exact 95 % quantile
    assert hi == pytest.approx(q95, abs=1 / n + 1e-9)  # within one hit of it


def test_ece_floor_shrinks_with_more_samples_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    small = M.ece_floor(rng.uniform(0.4, 1.0, 60))
    large = M.ece_floor(rng.uniform(0.4, 1.0, 6000))
    assert large[0] < small[0] / 5  # noise falls like 1/sqrt(n)
    conf = np.linspace(0.3, 0.99, 50)
    assert M.ece_floor(conf, seed=3) == M.ece_floor(conf, seed=3)
    with pytest.raises(ValueError, match="at least one"):
        M.ece_floor([])
    with pytest.raises(ValueError, match=r"finite and lie in \[0, 1\]"):
        M.ece_floor([0.5, 1.2])
    with pytest.raises(ValueError, match="n_sim must be >= 1"):
        M.ece_floor([0.5], n_sim=0)
    assert cal.ece_floor is M.ece_floor
