"""Reliability diagrams and confusion heatmaps (matplotlib, Agg canvas; pyplot is never imported).

Every reliability panel states its ECE, the bootstrap interval, the bin count, the binning and n in its
title, and shows AUROC of confidence for correctness (ECE alone can look fine while AUROC is at chance).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from ._validation import check_confidence
from .metrics import (
    Binning,
    confidence_auroc,
    ece_from_confidence_ci,
    reliability_bins,
    top_label_confidence,
)

__all__ = ["confusion_heatmap", "reliability_diagram", "reliability_diagram_confidence"]

PathLike = str | os.PathLike[str]


def _to_conf_correct(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(a)
    if arr.ndim == 2:
        return top_label_confidence(arr, b)
    return check_confidence(arr, b)


def _save(fig: Figure, path: PathLike, dpi: int) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, dpi=dpi, format="png")
    return out


def reliability_diagram_confidence(
    methods: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    n_bins: int = 15,
    title: str | None = None,
    binning: Binning = "equal_width",
    n_boot: int = 1000,
    seed: int = 0,
    dpi: int = 120,
) -> Path:
    """Reliability diagram PNG, one column per method, from ``{name: (confidence, correct)}``.

    Top row: accuracy per bin (bars), the gap to the mean confidence (red hatched), the diagonal; bottom row:
    the sample count per bin. Titles carry ECE with its percentile-bootstrap 95 % interval (``n_boot``
    resamples; 0 disables it), the bin count and binning, n and AUROC. Returns ``Path(path)``.
    """
    if not methods:
        raise ValueError("need at least one method")
    m = len(methods)
    fig = Figure(figsize=(4.2 * m, 5.6), layout="constrained")
    gs = fig.add_gridspec(2, m, height_ratios=[3, 1])
    for j, (name, (a, b)) in enumerate(methods.items()):
        conf, correct = _to_conf_correct(a, b)
        rb = reliability_bins(conf, correct, n_bins=n_bins, binning=binning)
        ax = fig.add_subplot(gs[0, j])
        axc = fig.add_subplot(gs[1, j], sharex=ax)
        left, width = rb.edges[:-1], np.diff(rb.edges)
        nonempty = rb.counts > 0
        acc = np.where(nonempty, rb.accuracy, 0.0)
        mconf = np.where(nonempty, rb.confidence, 0.0)
        ax.bar(
            left, acc, width=width, align="edge", color="#4c72b0", edgecolor="black", lw=0.6, label="accuracy"
        )
        ax.bar(
            left[nonempty],
            (mconf - acc)[nonempty],
            bottom=acc[nonempty],
            width=width[nonempty],
            align="edge",
            color="#dd8452",
            alpha=0.45,
            edgecolor="#c44e52",
            hatch="//",
            lw=0.6,
            label="gap to confidence",
        )
        ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.legend(loc="upper left", fontsize=7)
        if n_boot > 0:
            lo, hi = ece_from_confidence_ci(conf, correct, n_bins, binning, n_boot=n_boot, seed=seed)
            ci = f" [95% CI {lo:.3f}-{hi:.3f}]"
        else:
            ci = ""
        auroc = confidence_auroc(conf, correct)
        auroc_s = "n/a" if auroc is None else f"{auroc:.3f}"
        ax.set_title(
            f"{name}\nECE = {rb.ece:.3f}{ci}\n{rb.n_bins} {binning.replace('_', '-')} bins, "
            f"n = {rb.n}, AUROC = {auroc_s}",
            fontsize=9,
        )
        axc.bar(left, rb.counts, width=width, align="edge", color="gray", edgecolor="black", lw=0.5)
        for x, w, c in zip(left, width, rb.counts, strict=True):
            if c > 0:
                axc.text(x + w / 2, c, str(int(c)), ha="center", va="bottom", fontsize=6)
        axc.set_xlabel("confidence")
        axc.set_ylabel("count")
        axc.set_ylim(0, max(1, int(rb.counts.max())) * 1.25)
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


def reliability_diagram(
    probs_by_method: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    n_bins: int = 15,
    title: str | None = None,
    binning: Binning = "equal_width",
    n_boot: int = 1000,
    seed: int = 0,
    dpi: int = 120,
) -> Path:
    """Reliability diagram PNG with one panel per method (e.g. verbalized / raw / calibrated side by side).

    Each value is either ``(probs (n, k), labels (n,))`` -- binned on the top-label confidence -- or
    ``(confidence (n,), correct (n,))`` for methods that give one confidence per sample (verbalized).
    See :func:`reliability_diagram_confidence` for the panel contents. Returns ``Path(path)``.
    """
    converted = {name: _to_conf_correct(a, b) for name, (a, b) in probs_by_method.items()}
    return reliability_diagram_confidence(
        converted, path, n_bins=n_bins, title=title, binning=binning, n_boot=n_boot, seed=seed, dpi=dpi
    )


def confusion_heatmap(
    cm: ArrayLike,
    class_names: Sequence[str],
    path: PathLike,
    title: str | None = None,
    normalize: bool = False,
    dpi: int = 120,
) -> Path:
    """Heatmap PNG of a k x k confusion matrix (rows true, columns predicted) with counts in the cells.

    With ``normalize=True`` colours show row-normalized recall and cells show ``count (row %)``.
    Returns ``Path(path)``.
    """
    mat = np.asarray(cm)
    k = len(class_names)
    if mat.shape != (k, k):
        raise ValueError(f"cm must be {k}x{k} to match class_names, got shape {mat.shape}")
    rows = mat.sum(axis=1, keepdims=True)
    frac = np.divide(mat, rows, out=np.zeros(mat.shape, dtype=np.float64), where=rows > 0)
    shown = frac if normalize else mat.astype(np.float64)
    size = max(4.0, 0.9 * k + 2.0)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else max(1.0, float(shown.max())))
    fig.colorbar(im, ax=ax, label="row fraction" if normalize else "count")
    threshold = (1.0 if normalize else max(1.0, float(shown.max()))) / 2.0
    for i in range(k):
        for j in range(k):
            txt = f"{int(mat[i, j])}\n({100 * frac[i, j]:.0f}%)" if normalize else f"{int(mat[i, j])}"
            ax.text(
                j,
                i,
                txt,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shown[i, j] > threshold else "black",
            )
    ax.set_xticks(range(k), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"confusion matrix (n = {int(mat.sum())})")
    return _save(fig, path, dpi)
