"""Tests for formwhy.calibration.scaling (temperature and vector scaling)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax

import formwhy.calibration as cal
from formwhy.calibration import CalibrationError, CalibrationWarning, TemperatureScaler, VectorScaler

K = 6


def _sample_labels(rng: np.random.Generator, true_probs: np.ndarray) -> np.ndarray:
    u = rng.random((true_probs.shape[0], 1))
    return np.minimum((true_probs.cumsum(axis=1) < u).sum(axis=1), true_probs.shape[1] - 1)


def _tempered(t_true: float, n: int = 5000, seed: int = 0, scale: float = 2.0) -> tuple[np.ndarray, ...]:
    """Logits z and labels drawn from softmax(z / t_true): the optimal temperature is t_true."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, scale, size=(n, K))
    return z, _sample_labels(rng, softmax(z / t_true, axis=1))


@pytest.mark.parametrize("t_true", [2.0, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_temperature_recovers_known_t(t_true: float, seed: int) -> None:
    z, y = _tempered(t_true, seed=seed)
    ts = TemperatureScaler().fit(z, y)
    assert ts.temperature == pytest.approx(t_true, rel=0.10)
    assert ts.improved is True
    assert ts.nll_after < ts.nll_before
    assert ts.nll_before == pytest.approx(cal.nll(softmax(z, axis=1), y), rel=1e-12)
    assert ts.nll_after == pytest.approx(cal.nll(ts.transform(z), y), rel=1e-12)


def test_temperature_on_log_probs_equals_temperature_on_logits() -> None:
    z, y = _tempered(0.5, seed=3)
    logp = log_softmax(z, axis=1)
    t_logits = TemperatureScaler().fit(z, y)
    t_logp = TemperatureScaler().fit(logp, y)
    assert t_logp.temperature == pytest.approx(t_logits.temperature, rel=1e-4)
    np.testing.assert_allclose(t_logp.transform(logp), softmax(logp / t_logp.temperature, axis=1))
    np.testing.assert_allclose(t_logp.predict_proba(logp), t_logits.transform(z), atol=1e-4)


def test_temperature_accepts_log_probs_with_minus_inf() -> None:
    z, y = _tempered(2.0, n=400, seed=4)
    p = softmax(z, axis=1)
    p[np.arange(400) % 7 == 0, (y[np.arange(400) % 7 == 0] + 1) % K] = 0.0  # zero a wrong class
    p /= p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    assert np.isneginf(logp).any()
    ts = TemperatureScaler().fit(logp, y)
    out = ts.transform(logp)
    assert np.all(np.isfinite(out)) and np.allclose(out.sum(axis=1), 1.0)
    assert np.all(out[np.isneginf(logp)] == 0.0)


def test_calibrated_data_gives_t_near_one() -> None:
    z, y = _tempered(1.0, seed=5)
    ts = TemperatureScaler().fit(z, y)
    assert ts.temperature == pytest.approx(1.0, rel=0.08)
    assert ts.nll_after <= ts.nll_before


def test_guard_too_few_rows() -> None:
    z, y = _tempered(2.0, n=49, seed=6)
    assert set(y.tolist()) == set(range(K))
    with pytest.raises(CalibrationError, match="49"):
        TemperatureScaler().fit(z, y)
    with pytest.raises(ValueError):  # CalibrationError is a ValueError
        VectorScaler().fit(z, y)
    TemperatureScaler().fit(z, y, min_n=40)  # an explicit lower minimum is honoured


def test_guard_missing_class_and_force() -> None:
    z, y = _tempered(2.0, n=600, seed=7)
    y = np.where(y == 4, 3, y)
    with pytest.raises(CalibrationError, match=r"\[4\]"):
        TemperatureScaler().fit(z, y)
    with pytest.raises(CalibrationError, match=r"\[4\]"):
        VectorScaler().fit(z, y)
    ts = TemperatureScaler().fit(z, y, force=True)
    assert ts.forced and "absent" in ts.note and ts.temperature > 0
    vs = VectorScaler().fit(z, y, force=True)
    assert vs.forced and np.all(np.isfinite(vs.b))


def test_force_on_tiny_set_still_positive_t() -> None:
    z, y = _tempered(1.0, n=3, seed=8)
    ts = TemperatureScaler()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        ts.fit(z, y, force=True)
    assert 0.05 <= ts.temperature <= 20.0
    assert ts.nll_after <= ts.nll_before


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    k=st.integers(2, 5),
    scale=st.floats(0.0, 30.0),
    seed=st.integers(0, 10_000),
)
def test_t_always_positive_and_nll_never_worse(n: int, k: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, size=(n, k)) * scale
    y = rng.integers(0, k, size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        ts = TemperatureScaler().fit(z, y, force=True)
    assert math.isfinite(ts.temperature) and ts.temperature > 0
    assert 0.05 - 1e-12 <= ts.temperature <= 20.0 + 1e-9
    assert ts.nll_after <= ts.nll_before
    assert ts.nll_after == pytest.approx(cal.nll(ts.transform(z), y), rel=1e-9, abs=1e-12)


def test_no_improvement_keeps_t_one_and_says_so() -> None:
    # constant logits: softmax(z / T) is uniform for every T, the NLL cannot go down
    z = np.zeros((120, K))
    y = np.arange(120) % K
    with pytest.warns(CalibrationWarning, match="did not go down"):
        ts = TemperatureScaler().fit(z, y)
    assert ts.improved is False and ts.temperature == 1.0
    assert ts.nll_after == ts.nll_before == pytest.approx(math.log(K))
    assert "keeping T=1" in ts.note
    with pytest.warns(CalibrationWarning, match="did not go down"):
        vs = VectorScaler().fit(z, y)
    assert vs.improved is False
    np.testing.assert_array_equal(vs.W, np.ones(K))
    np.testing.assert_array_equal(vs.b, np.zeros(K))


def test_separable_data_hits_lower_bound_with_warning() -> None:
    rng = np.random.default_rng(9)
    y = np.arange(300) % K
    z = rng.normal(0, 0.1, size=(300, K))
    z[np.arange(300), y] += 1.0  # always right: NLL keeps falling as T shrinks
    with pytest.warns(CalibrationWarning, match="bound"):
        ts = TemperatureScaler().fit(z, y)
    assert ts.temperature == pytest.approx(0.05, rel=1e-3) and ts.temperature > 0


def test_temperature_round_trip_and_unfitted() -> None:
    with pytest.raises(CalibrationError):
        TemperatureScaler().transform(np.zeros((2, K)))
    with pytest.raises(CalibrationError):
        TemperatureScaler().to_dict()
    z, y = _tempered(2.0, n=800, seed=10)
    ts = TemperatureScaler().fit(z, y)
    d = json.loads(json.dumps(ts.to_dict()))
    assert d["kind"] == "temperature"
    ts2 = TemperatureScaler.from_dict(d)
    assert ts2.temperature == ts.temperature and ts2.improved and ts2.nll_after == ts.nll_after
    np.testing.assert_array_equal(ts2.transform(z), ts.transform(z))
    with pytest.raises(ValueError):
        TemperatureScaler.from_dict({**d, "temperature": -1.0})
    with pytest.raises(ValueError):
        TemperatureScaler.from_dict({**d, "kind": "vector"})


def test_transform_checks_shape_and_values() -> None:
    z, y = _tempered(2.0, n=200, seed=11)
    ts = TemperatureScaler().fit(z, y)
    with pytest.raises(ValueError):
        ts.transform(np.zeros((3, K + 1)))
    with pytest.raises(ValueError):
        ts.transform(np.full((2, K), np.nan))
    with pytest.raises(ValueError):
        TemperatureScaler().fit(z, np.full(200, K))  # label out of range


def _vector_miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(n, K))
    w_true = np.array([0.3, 0.6, 1.0, 1.5, 0.4, 0.8])
    b_true = np.array([0.8, -0.5, 0.0, 0.3, -1.0, 0.4])
    return z, _sample_labels(rng, softmax(z * w_true + b_true, axis=1))


def test_vector_scaling_lowers_nll_on_held_out_data() -> None:
    z, y = _vector_miscalibrated(6000, seed=12)
    z_fit, y_fit, z_test, y_test = z[:3000], y[:3000], z[3000:], y[3000:]
    vs = VectorScaler().fit(z_fit, y_fit)
    ts = TemperatureScaler().fit(z_fit, y_fit)
    raw = cal.nll(softmax(z_test, axis=1), y_test)
    vec = cal.nll(vs.transform(z_test), y_test)
    temp = cal.nll(ts.transform(z_test), y_test)
    assert vs.improved and vs.nll_after < vs.nll_before
    assert vec < raw - 0.1
    assert vec < temp  # per-class parameters capture what a single T cannot
    np.testing.assert_allclose(vs.transform(z_test).sum(axis=1), 1.0)
    assert cal.ece(vs.transform(z_test), y_test) < cal.ece(softmax(z_test, axis=1), y_test)


def test_vector_round_trip_and_rejects_minus_inf() -> None:
    z, y = _vector_miscalibrated(800, seed=13)
    vs = VectorScaler(l2=1e-2).fit(z, y)
    vs2 = VectorScaler.from_dict(json.loads(json.dumps(vs.to_dict())))
    np.testing.assert_array_equal(vs2.predict_proba(z), vs.transform(z))
    assert vs2.l2 == 1e-2
    bad = z.copy()
    bad[0, 0] = -np.inf
    with pytest.raises(ValueError, match="-inf"):
        VectorScaler().fit(bad, y)
    with pytest.raises(CalibrationError):
        VectorScaler().transform(z)
