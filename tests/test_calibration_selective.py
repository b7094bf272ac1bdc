"""Tests for formwhy.calibration.selective (risk-coverage curve, AURC)."""

from __future__ import annotations

import numpy as np
import pytest

from formwhy.calibration import aurc, risk_at_coverage, risk_coverage_curve, top_label_confidence


def test_risk_coverage_hand_example() -> None:
    conf = [0.6, 0.9, 0.7, 0.8]  # unsorted on purpose
    correct = [0, 1, 1, 0]
    # sorted by confidence: 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (wrong)
    cov, risk = risk_coverage_curve(conf, correct)
    np.testing.assert_allclose(cov, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0.0, 0.5, 1 / 3, 0.5])
    assert aurc(conf, correct) == pytest.approx((0 + 0.5 + 1 / 3 + 0.5) / 4)
    assert risk_at_coverage(conf, correct, 0.5) == pytest.approx(0.5)
    assert risk_at_coverage(conf, correct, 0.75) == pytest.approx(1 / 3)
    assert risk_at_coverage(conf, correct, 0.3) == pytest.approx(0.5)  # ceil(0.3 * 4) = 2 kept
    assert risk_at_coverage(conf, correct, 0.01) == 0.0  # at least one kept
    assert risk_at_coverage(conf, correct, 1.0) == pytest.approx(0.5)


def test_aurc_ordering_matters() -> None:
    correct = np.array([1, 1, 1, 0, 0])
    good = np.array([0.9, 0.8, 0.7, 0.2, 0.1])  # errors ranked last
    bad = good[::-1].copy()  # errors ranked first
    assert aurc(good, correct) == pytest.approx((0 + 0 + 0 + 1 / 4 + 2 / 5) / 5)
    assert aurc(bad, correct) == pytest.approx((1 + 1 + 2 / 3 + 2 / 4 + 2 / 5) / 5)
    assert aurc(good, correct) < aurc(bad, correct)


def test_ties_keep_input_order_and_probs_helper() -> None:
    cov, risk = risk_coverage_curve([0.9, 0.9], [0, 1])
    np.testing.assert_allclose(risk, [1.0, 0.5])
    p = np.array([[0.7, 0.3], [0.2, 0.8], [0.55, 0.45]])
    conf, correct = top_label_confidence(p, [0, 0, 0])
    assert aurc(conf, correct) == pytest.approx((1.0 + 0.5 + 1 / 3) / 3)


def test_selective_validation() -> None:
    with pytest.raises(ValueError):
        risk_at_coverage([0.5], [1], 0.0)
    with pytest.raises(ValueError):
        risk_coverage_curve([1.5], [1])
    with pytest.raises(ValueError):
        risk_coverage_curve([0.5, 0.4], [1])
    with pytest.raises(ValueError):
        risk_coverage_curve([0.5], [2])
