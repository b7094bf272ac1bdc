"""Post-hoc scaling of logits: temperature scaling and vector scaling (Guo et al. 2017).

Both scalers accept either raw logits or log-probabilities (n, k). For log-probabilities ``logp`` the
temperature-scaled output is ``softmax(logp / T)``, i.e. ``p ** (1/T)`` renormalized; T = 1 is the identity.

Guards (both scalers, see ``fit``): fitting refuses with :class:`CalibrationError` when there are fewer
than ``min_n`` rows (default 50; about 200 is a cited minimum for multiclass scaling to help) or a class
is absent from the labels, unless ``force=True``. After fitting, the NLL on the fit data is compared with
the unscaled NLL; if it did not go down the scaler falls back to the identity and ``improved`` is False.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax, softmax

from ._validation import CalibrationError, as_labels, check_logits
from .metrics import NLL_EPS

MIN_FIT_ROWS = 50  # the fewest rows a scaler fits on unless forced (about 200 is a cited minimum for multiclass)

__all__ = ["CalibrationError", "CalibrationWarning", "TemperatureScaler", "VectorScaler"]

T_MIN = 0.05
T_MAX = 20.0
_LOG_EPS = math.log(NLL_EPS)


class CalibrationWarning(UserWarning):
    """Emitted when a scaler falls back to the identity or its fit hit a bound."""


def _nll_logits(z: np.ndarray, y: np.ndarray) -> float:
    """Mean NLL of ``softmax(z)`` at the labels, probabilities clipped below at 1e-12 (as ``metrics.nll``)."""
    lp = log_softmax(z, axis=1)[np.arange(z.shape[0]), y]
    return float(-np.mean(np.maximum(lp, _LOG_EPS)))


def _check_fit_inputs(
    z: np.ndarray, labels: ArrayLike, min_n: int, force: bool
) -> tuple[np.ndarray, list[str]]:
    n, k = z.shape
    y = as_labels(labels, k)
    if y.shape[0] != n:
        raise ValueError(f"logits has {n} rows but labels has {y.shape[0]} entries")
    problems: list[str] = []
    if n < min_n:
        problems.append(
            f"only {n} calibration rows (min_n={min_n}; about 200 are a cited minimum for multiclass scaling)"
        )
    missing = sorted(set(range(k)) - set(np.unique(y).tolist()))
    if missing:
        problems.append(f"classes {missing} are absent from the calibration labels")
    if problems and not force:
        raise CalibrationError("refusing to fit: " + "; ".join(problems) + ". Pass force=True to fit anyway.")
    return y, problems


class TemperatureScaler:
    """Temperature scaling: ``probs = softmax(logits / T)`` with one scalar T > 0.

    ``log T`` is fitted by minimizing the NLL with ``scipy.optimize.minimize_scalar(method="bounded")``
    over ``[log 0.05, log 20]`` -- a bounded 1-D search, so T is always in [0.05, 20] and never <= 0.
    T < 1 (sharpening under-confident outputs) is legitimate and is not clamped.

    Attributes (after ``fit``): ``temperature``, ``nll_before`` (T = 1), ``nll_after`` (fitted T, or T = 1
    if that was not better), ``improved``, ``n_samples``, ``n_classes``, ``forced``, ``note``.
    """

    def __init__(self) -> None:
        self.temperature: float | None = None
        self.nll_before: float | None = None
        self.nll_after: float | None = None
        self.improved: bool | None = None
        self.n_samples: int | None = None
        self.n_classes: int | None = None
        self.forced: bool = False
        self.note: str = ""

    @property
    def is_fitted(self) -> bool:
        """Whether a temperature is available."""
        return self.temperature is not None

    def fit(
        self, logits: ArrayLike, labels: ArrayLike, *, min_n: int = MIN_FIT_ROWS, force: bool = False
    ) -> TemperatureScaler:
        """Fit T on (n, k) logits or log-probabilities (``-inf`` allowed) and labels in [0, k).

        Raises:
            CalibrationError: n < ``min_n`` or a class is absent from ``labels`` (unless ``force``).
        """
        z = check_logits(logits, allow_neg_inf=True)
        y, problems = _check_fit_inputs(z, labels, min_n, force)

        def objective(log_t: float) -> float:
            return _nll_logits(z / math.exp(log_t), y)

        res = minimize_scalar(
            objective, bounds=(math.log(T_MIN), math.log(T_MAX)), method="bounded", options={"xatol": 1e-6}
        )
        t_fit = float(math.exp(float(res.x)))
        before = _nll_logits(z, y)
        after = _nll_logits(z / t_fit, y)
        notes = [f"forced despite: {'; '.join(problems)}"] if problems else []
        if after < before:
            self.temperature, self.nll_after, self.improved = t_fit, after, True
            if t_fit <= T_MIN * 1.001 or t_fit >= T_MAX * 0.999:
                notes.append(f"T={t_fit:.4g} is at the search bound [{T_MIN}, {T_MAX}]")
                warnings.warn(notes[-1], CalibrationWarning, stacklevel=2)
        else:
            self.temperature, self.nll_after, self.improved = 1.0, before, False
            notes.append(
                f"NLL did not go down (T={t_fit:.4g} gave {after:.6f} vs {before:.6f} at T=1); keeping T=1"
            )
            warnings.warn(notes[-1], CalibrationWarning, stacklevel=2)
        self.nll_before = before
        self.n_samples, self.n_classes = int(z.shape[0]), int(z.shape[1])
        self.forced = bool(problems)
        self.note = "; ".join(notes)
        return self

    def _require_fitted(self) -> float:
        if self.temperature is None:
            raise CalibrationError("TemperatureScaler is not fitted")
        return self.temperature

    def transform(self, logits: ArrayLike) -> np.ndarray:
        """Return calibrated probabilities ``softmax(logits / T)`` (rows sum to 1)."""
        t = self._require_fitted()
        z = check_logits(logits, allow_neg_inf=True)
        if self.n_classes is not None and z.shape[1] != self.n_classes:
            raise ValueError(f"expected {self.n_classes} classes, got {z.shape[1]}")
        return softmax(z / t, axis=1)

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Alias of :meth:`transform`."""
        return self.transform(logits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        self._require_fitted()
        return {
            "kind": "temperature",
            "temperature": float(self.temperature),  # type: ignore[arg-type]
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "improved": self.improved,
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "forced": self.forced,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TemperatureScaler:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("kind") != "temperature":
            raise ValueError(f"not a temperature scaler: kind={d.get('kind')!r}")
        t = float(d["temperature"])
        if not t > 0 or not math.isfinite(t):
            raise ValueError(f"invalid temperature {t}")
        obj = cls()
        obj.temperature = t
        obj.nll_before = d.get("nll_before")
        obj.nll_after = d.get("nll_after")
        obj.improved = d.get("improved")
        obj.n_samples = d.get("n_samples")
        obj.n_classes = d.get("n_classes")
        obj.forced = bool(d.get("forced", False))
        obj.note = str(d.get("note", ""))
        return obj


class VectorScaler:
    """Vector scaling: ``probs = softmax(W * logits + b)`` with per-class W (k,) and b (k,).

    Fitted by L-BFGS-B on ``mean NLL + l2 * (||W - 1||^2 + ||b||^2)`` from W = 1, b = 0 (the identity).
    The L2 term keeps b finite for a class absent from the labels (possible only with ``force=True``).
    Logits must be finite (clip log-probabilities, e.g. at log 1e-12, before fitting).

    Attributes (after ``fit``): ``W``, ``b``, ``nll_before``, ``nll_after`` (unregularized), ``improved``,
    ``n_samples``, ``n_classes``, ``forced``, ``note``.
    """

    def __init__(self, l2: float = 1e-3, max_iter: int = 500) -> None:
        if l2 < 0:
            raise ValueError("l2 must be >= 0")
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.nll_before: float | None = None
        self.nll_after: float | None = None
        self.improved: bool | None = None
        self.n_samples: int | None = None
        self.n_classes: int | None = None
        self.forced: bool = False
        self.note: str = ""

    @property
    def is_fitted(self) -> bool:
        """Whether parameters are available."""
        return self.W is not None

    def fit(
        self, logits: ArrayLike, labels: ArrayLike, *, min_n: int = MIN_FIT_ROWS, force: bool = False
    ) -> VectorScaler:
        """Fit W and b on finite (n, k) logits / log-probabilities and labels in [0, k).

        Raises:
            CalibrationError: n < ``min_n`` or a class is absent from ``labels`` (unless ``force``).
        """
        z = check_logits(logits, allow_neg_inf=False)
        y, problems = _check_fit_inputs(z, labels, min_n, force)
        n, k = z.shape
        onehot = np.zeros_like(z)
        onehot[np.arange(n), y] = 1.0
        lam = self.l2

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, bb = theta[:k], theta[k:]
            s = z * w + bb
            lp = log_softmax(s, axis=1)
            loss = -np.sum(lp * onehot) / n + lam * (np.sum((w - 1.0) ** 2) + np.sum(bb**2))
            d = (np.exp(lp) - onehot) / n
            gw = np.sum(d * z, axis=0) + 2.0 * lam * (w - 1.0)
            gb = np.sum(d, axis=0) + 2.0 * lam * bb
            return float(loss), np.concatenate([gw, gb])

        theta0 = np.concatenate([np.ones(k), np.zeros(k)])
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        w_fit, b_fit = np.asarray(res.x[:k], dtype=np.float64), np.asarray(res.x[k:], dtype=np.float64)
        before = _nll_logits(z, y)
        after = _nll_logits(z * w_fit + b_fit, y)
        notes = [f"forced despite: {'; '.join(problems)}"] if problems else []
        if not res.success:
            notes.append(f"L-BFGS-B did not report convergence: {res.message}")
        if after < before and np.all(np.isfinite(res.x)):
            self.W, self.b, self.nll_after, self.improved = w_fit, b_fit, after, True
        else:
            self.W, self.b, self.nll_after, self.improved = np.ones(k), np.zeros(k), before, False
            notes.append(f"NLL did not go down ({after:.6f} vs {before:.6f} unscaled); keeping the identity")
            warnings.warn(notes[-1], CalibrationWarning, stacklevel=2)
        self.nll_before = before
        self.n_samples, self.n_classes = int(n), int(k)
        self.forced = bool(problems)
        self.note = "; ".join(notes)
        return self

    def transform(self, logits: ArrayLike) -> np.ndarray:
        """Return calibrated probabilities ``softmax(W * logits + b)``."""
        if self.W is None or self.b is None:
            raise CalibrationError("VectorScaler is not fitted")
        z = check_logits(logits, allow_neg_inf=False)
        if z.shape[1] != self.W.shape[0]:
            raise ValueError(f"expected {self.W.shape[0]} classes, got {z.shape[1]}")
        return softmax(z * self.W + self.b, axis=1)

    def predict_proba(self, logits: ArrayLike) -> np.ndarray:
        """Alias of :meth:`transform`."""
        return self.transform(logits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        if self.W is None or self.b is None:
            raise CalibrationError("VectorScaler is not fitted")
        return {
            "kind": "vector",
            "W": [float(v) for v in self.W],
            "b": [float(v) for v in self.b],
            "l2": self.l2,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "improved": self.improved,
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "forced": self.forced,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VectorScaler:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("kind") != "vector":
            raise ValueError(f"not a vector scaler: kind={d.get('kind')!r}")
        w = np.asarray(d["W"], dtype=np.float64)
        b = np.asarray(d["b"], dtype=np.float64)
        if w.ndim != 1 or w.shape != b.shape or not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ValueError("W and b must be finite 1-D arrays of equal length")
        obj = cls(l2=float(d.get("l2", 1e-3)))
        obj.W, obj.b = w, b
        obj.nll_before = d.get("nll_before")
        obj.nll_after = d.get("nll_after")
        obj.improved = d.get("improved")
        obj.n_samples = d.get("n_samples")
        obj.n_classes = d.get("n_classes", int(w.shape[0]))
        obj.forced = bool(d.get("forced", False))
        obj.note = str(d.get("note", ""))
        return obj
