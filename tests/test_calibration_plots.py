"""Tests for formwhy.calibration.plots: PNGs are written, non-empty and laid out one panel per method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

import formwhy.calibration as cal

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _data(seed: int, n: int = 300, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.4), size=n)
    y = np.where(rng.random(n) < 0.6, p.argmax(axis=1), rng.integers(0, k, size=n))
    return p, y


def _check_png(path: Path) -> np.ndarray:
    assert path.exists() and path.stat().st_size > 5000
    assert path.read_bytes()[:8] == PNG_MAGIC
    return imread(path)


def test_reliability_diagram_one_panel_per_method(tmp_path: Path) -> None:
    p, y = _data(0)
    rng = np.random.default_rng(1)
    verbal_conf = rng.choice([0.8, 0.85, 0.9, 0.95, 1.0], size=len(y))
    verbal_correct = p.argmax(axis=1) == y
    three = cal.reliability_diagram(
        {
            "verbalized": (verbal_conf, verbal_correct),
            "raw": (p, y),
            "calibrated": (np.full_like(p, 1 / 6), y),
        },
        tmp_path / "sub" / "three.png",
        n_bins=15,
        title="test",
        n_boot=50,
    )
    one = cal.reliability_diagram({"raw": (p, y)}, str(tmp_path / "one.png"), n_boot=0)
    assert isinstance(three, Path) and three == tmp_path / "sub" / "three.png"
    img3, img1 = _check_png(three), _check_png(one)
    assert img3.shape[0] == img1.shape[0]
    assert img3.shape[1] > 2.5 * img1.shape[1]


def test_reliability_diagram_confidence_and_equal_mass(tmp_path: Path) -> None:
    conf = np.array([1.0, 0.95, 0.9, 0.9, 0.8, 0.6])
    correct = np.array([1, 0, 1, 1, 0, 1])
    out = cal.reliability_diagram_confidence(
        {"verbalized": (conf, correct)}, tmp_path / "v.png", n_bins=10, binning="equal_mass", n_boot=20
    )
    _check_png(out)
    single = cal.reliability_diagram_confidence({"all right": ([0.7], [1])}, tmp_path / "s.png", n_boot=10)
    _check_png(single)
    with pytest.raises(ValueError):
        cal.reliability_diagram({}, tmp_path / "empty.png")


def test_confusion_heatmap(tmp_path: Path) -> None:
    p, y = _data(2)
    cm = cal.confusion_matrix(p, y)
    names = ["a", "b", "c", "d", "e", "f"]
    out = cal.confusion_heatmap(cm, names, tmp_path / "cm.png", title="confusion")
    _check_png(out)
    cm[5] = 0  # an absent class must not break the normalized view
    _check_png(cal.confusion_heatmap(cm, names, tmp_path / "cm_norm.png", normalize=True))
    with pytest.raises(ValueError):
        cal.confusion_heatmap(cm, names[:3], tmp_path / "bad.png")
