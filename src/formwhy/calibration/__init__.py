"""Calibration toolkit: metrics, temperature / vector scaling, conformal sets, selective risk, plots.

Pure numpy / scipy / scikit-learn / matplotlib; torch is never imported. Inputs are ``probs`` (n, k) with
rows summing to 1 and integer ``labels`` (n,) in [0, k) unless a function says otherwise. The plotting
functions are imported lazily (on first attribute access) so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

from ._validation import CalibrationError
from .conformal import APS, coverage, mean_set_size
from .metrics import (
    BINNINGS,
    NLL_EPS,
    Binning,
    ReliabilityBins,
    accuracy,
    bootstrap_ci,
    brier,
    classwise_ece,
    confidence_auroc,
    confusion_matrix,
    ece,
    ece_equal_mass,
    ece_floor,
    ece_from_confidence,
    ece_from_confidence_ci,
    macro_f1,
    mce,
    nll,
    paired_bootstrap_diff,
    per_class,
    reliability_bins,
    summarize,
    summarize_confidence,
    top_label_confidence,
)
from .scaling import MIN_FIT_ROWS, CalibrationWarning, TemperatureScaler, VectorScaler
from .selective import aurc, risk_at_coverage, risk_coverage_curve

_LAZY_PLOTS = ("confusion_heatmap", "reliability_diagram", "reliability_diagram_confidence")

__all__ = [
    "APS",
    "BINNINGS",
    "MIN_FIT_ROWS",
    "NLL_EPS",
    "Binning",
    "CalibrationError",
    "CalibrationWarning",
    "ReliabilityBins",
    "TemperatureScaler",
    "VectorScaler",
    "accuracy",
    "aurc",
    "bootstrap_ci",
    "brier",
    "classwise_ece",
    "confidence_auroc",
    "confusion_heatmap",
    "confusion_matrix",
    "coverage",
    "ece",
    "ece_equal_mass",
    "ece_floor",
    "ece_from_confidence",
    "ece_from_confidence_ci",
    "macro_f1",
    "mce",
    "mean_set_size",
    "nll",
    "paired_bootstrap_diff",
    "per_class",
    "reliability_bins",
    "reliability_diagram",
    "reliability_diagram_confidence",
    "risk_at_coverage",
    "risk_coverage_curve",
    "summarize",
    "summarize_confidence",
    "top_label_confidence",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_PLOTS:
        from . import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
