"""Tests for formwhy.calibration.conformal (split-conformal APS)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import softmax

from formwhy.calibration import APS, coverage, mean_set_size

K = 6


def _pool(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An over-confident model: labels come from softmax(z), the model reports softmax(2.5 z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.2, size=(n, K))
    true_p = softmax(z, axis=1)
    u = rng.random((n, 1))
    y = np.minimum((true_p.cumsum(axis=1) < u).sum(axis=1), K - 1)
    return softmax(2.5 * z, axis=1), y


def test_scores_hand_example() -> None:
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    y = np.array([0, 1, 2, 1])
    # ties (0.2, 0.2) keep the lower index first: order 2, 0, 1 -> score of class 1 is 1.0
    np.testing.assert_allclose(APS().scores(p, y), [0.5, 0.8, 1.0, 1.0])


def test_randomized_scores_hand_example() -> None:
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    y = np.array([0, 2])
    u = np.random.default_rng(42).uniform(size=2)
    np.testing.assert_allclose(APS(randomized=True, seed=42).scores(p, y), [u[0] * 0.5, 0.8 + u[1] * 0.2])


@pytest.mark.parametrize("n", [9, 10, 19, 99, 100, 1000])
@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.05])
def test_qhat_is_the_ceil_n_plus_one_order_statistic(n: int, alpha: float) -> None:
    p, y = _pool(n, seed=n)
    aps = APS(alpha=alpha).fit(p, y)
    r = math.ceil((n + 1) * (1 - alpha) - 1e-9)  # rank with the finite-sample correction
    scores = np.sort(APS().scores(p, y))
    if r > n:
        assert aps.qhat == 1.0 and aps.level > 1.0
    else:
        assert aps.qhat == scores[r - 1]
        assert aps.level == pytest.approx(r / n)


def test_tiny_calibration_set_gives_all_class_sets() -> None:
    p, y = _pool(5, seed=1)
    aps = APS(alpha=0.1).fit(p, y)  # ceil(6 * 0.9) / 5 = 1.2 > 1
    assert aps.qhat == 1.0
    test_p, _ = _pool(50, seed=2)
    sets = aps.predict_sets(test_p)
    assert all(sorted(s) == list(range(K)) for s in sets)
    assert mean_set_size(sets) == K


@pytest.mark.parametrize("randomized", [False, True])
def test_marginal_coverage_over_many_splits(randomized: bool) -> None:
    alpha = 0.1
    p, y = _pool(2000, seed=3)
    rng = np.random.default_rng(4)
    covs, sizes = [], []
    for i in range(200):
        perm = rng.permutation(len(y))
        cal_idx, test_idx = perm[:500], perm[500:]
        aps = APS(alpha=alpha, randomized=randomized, seed=i).fit(p[cal_idx], y[cal_idx])
        sets = aps.predict_sets(p[test_idx])
        covs.append(coverage(sets, y[test_idx]))
        sizes.append(mean_set_size(sets))
    covs_arr = np.array(covs)
    assert abs(covs_arr.mean() - (1 - alpha)) < 0.02
    assert covs_arr.mean() >= 1 - alpha - 0.005
    assert covs_arr.min() >= 1 - alpha - 0.06
    if randomized:  # continuous scores: coverage is also bounded above by 1 - alpha + 1 / (n + 1)
        assert covs_arr.mean() <= 1 - alpha + 1 / 501 + 0.005
    assert 1.0 < np.mean(sizes) < K  # informative: neither singletons nor everything


@pytest.mark.parametrize("randomized", [False, True])
def test_coverage_guarantee_holds_for_small_calibration_sets(randomized: bool) -> None:
    # n = 10, alpha = 0.2: the corrected rank is ceil(11 * 0.8) = 9, expected coverage >= 9/11 ~ 0.818;
    # the uncorrected rank ceil(10 * 0.8) = 8 would give about 8/11 ~ 0.727.
    alpha, n = 0.2, 10
    p, y = _pool(4000, seed=5)
    rng = np.random.default_rng(6)
    covs = []
    for i in range(1000):
        idx = rng.choice(len(y), size=n + 200, replace=False)
        aps = APS(alpha=alpha, randomized=randomized, seed=i).fit(p[idx[:n]], y[idx[:n]])
        covs.append(coverage(aps.predict_sets(p[idx[n:]]), y[idx[n:]]))
    assert np.mean(covs) >= 1 - alpha - 0.01


def test_sets_non_empty_sorted_and_consistent_with_scores() -> None:
    p, y = _pool(1500, seed=7)
    aps = APS(alpha=0.3).fit(p[:500], y[:500])
    test_p, test_y = p[500:], y[500:]
    sets = aps.predict_sets(test_p)
    scores = APS().scores(test_p, test_y)
    for row, s, label, score in zip(test_p, sets, test_y, scores, strict=True):
        assert len(s) >= 1 and s[0] == int(row.argmax())
        assert all(row[a] >= row[b] for a, b in zip(s, s[1:], strict=False))
        if len(s) > 1 or score <= aps.qhat:  # the top class is added even when its score exceeds qhat
            assert (label in s) == (score <= aps.qhat)
    mask = aps.predict_mask(test_p)
    assert [sorted(s) for s in sets] == [sorted(np.flatnonzero(m).tolist()) for m in mask]
    assert any(len(s) == 1 for s in sets) and any(len(s) > 1 for s in sets)


def test_randomized_sets_are_never_empty() -> None:
    p, y = _pool(600, seed=8)
    aps = APS(alpha=0.4, randomized=True, seed=1).fit(p[:300], y[:300])
    assert all(len(s) >= 1 for s in aps.predict_sets(p[300:]))


def test_class_absent_from_calibration_set() -> None:
    p, y = _pool(3000, seed=9)
    keep = y != 5
    cal_p, cal_y = p[keep][:800], y[keep][:800]
    assert 5 not in set(cal_y.tolist())
    aps = APS(alpha=0.1).fit(cal_p, cal_y)
    test_p, test_y = p[~keep], y[~keep]  # only class 5
    sets = aps.predict_sets(test_p)
    assert any(5 in s for s in sets)
    assert 0.0 < coverage(sets, test_y) <= 1.0
    assert APS(alpha=0.1).fit(p[:5], np.zeros(5, dtype=int)).qhat == 1.0


def test_coverage_and_size_hand_example() -> None:
    sets = [[0], [1, 2], [3, 0, 1]]
    assert coverage(sets, [0, 0, 1]) == pytest.approx(2 / 3)
    assert mean_set_size(sets) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        coverage(sets, [0, 1])


def test_round_trip_and_validation() -> None:
    p, y = _pool(400, seed=10)
    aps = APS(alpha=0.15).fit(p[:200], y[:200])
    aps2 = APS.from_dict(json.loads(json.dumps(aps.to_dict())))
    assert aps2.qhat == aps.qhat and aps2.alpha == 0.15 and aps2.n_cal == 200
    assert aps2.predict_sets(p[200:]) == aps.predict_sets(p[200:])
    with pytest.raises(ValueError):
        APS(alpha=0.0)
    with pytest.raises(ValueError):
        APS().predict_sets(p)
    with pytest.raises(ValueError):
        aps.predict_sets(p[:, :3] / p[:, :3].sum(axis=1, keepdims=True))
    with pytest.raises(ValueError):
        APS.from_dict({"kind": "temperature"})
