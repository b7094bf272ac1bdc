"""Post-hoc calibration of a backend's raw scores, stored beside its model as ``calibration.json``.

A :class:`Calibrator` holds, for one model, a :class:`~formwhy.calibration.TemperatureScaler` (the default method),
a :class:`~formwhy.calibration.VectorScaler` (``method="vector"``) and split-conformal
:class:`~formwhy.calibration.APS` prediction sets (``alpha`` 0.1 by default: sets that hold the true class at least
90 % of the time on exchangeable data). All three are fitted on a validation set (never a test set):

* the scalers on the scores of the validation :class:`~formwhy.backends.base.Prediction` (logits, or the log of the
  probabilities), normalised to log-probabilities and clipped at log 1e-12 so they are finite;
* APS on the temperature-scaled validation probabilities. APS is the randomized version of Romano, Sesia & Candes
  (2020): the deterministic score (cumulative mass up to and including the true class) degenerates for a model that
  is almost always right and confident on validation -- the scores pile up just below 1, ``qhat`` lands at about
  0.999997 and the sets take in nearly every class (mean size 2.5 at 99 % accuracy on the synthetic validation set,
  against 1.01 randomized). The uniform draws come from a fixed seed, restarted on every :meth:`Calibrator.sets`
  call, so the same input gives the same sets.

The scalers' guards (fewer than ``min_n`` rows, a class missing from the labels) raise
:class:`~formwhy.calibration.CalibrationError` unless ``force=True``.

A calibrator that was never fitted (no ``calibration.json``) is the identity: :meth:`Calibrator.apply` returns the
raw probabilities, :attr:`Calibrator.is_fitted` is False and callers say "uncalibrated"; it has no prediction sets.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_softmax, softmax

from formwhy import __version__
from formwhy._fsutil import atomic_write_text
from formwhy.backends.base import Prediction, stack_scores
from formwhy.calibration import (
    APS,
    MIN_FIT_ROWS,
    CalibrationError,
    CalibrationWarning,
    TemperatureScaler,
    VectorScaler,
    ece,
    nll,
)
from formwhy.taxonomy import NAMES, NUM_CLASSES

CALIBRATION_FILE = "calibration.json"
FORMAT = "formwhy.calibration/v1"
METHODS = ("temperature", "vector")
DEFAULT_ALPHA = 0.1
APS_SEED = 0
_LOG_EPS = math.log(1e-12)


def as_scores(scores: ArrayLike | Sequence[Prediction]) -> np.ndarray:
    """(n, k) finite log-probabilities from logits, log-probabilities or a list of Predictions."""
    if isinstance(scores, Sequence) and scores and isinstance(scores[0], Prediction):
        z = stack_scores(scores)  # type: ignore[arg-type]
    else:
        z = np.asarray(scores, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != NUM_CLASSES:
        raise ValueError(f"scores must have shape (n, {NUM_CLASSES}), got {z.shape}")
    if np.any(np.isnan(z)) or np.any(z == np.inf):
        raise ValueError("scores contain NaN or +inf")
    return np.maximum(log_softmax(z, axis=1), _LOG_EPS)


def calibration_dir(model_path: Path | str) -> Path:
    """Where a model's ``calibration.json`` lives: the model directory (or the folder of a model file)."""
    p = Path(model_path)
    return p if p.is_dir() or not p.suffix else p.parent


class Calibrator:
    """Temperature + vector scaling + APS sets for one model (see the module docstring)."""

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.alpha = float(alpha)
        self.temperature: TemperatureScaler | None = None
        self.vector: VectorScaler | None = None
        self.aps: APS | None = None
        self.info: dict[str, Any] = {}

    @property
    def is_fitted(self) -> bool:
        return self.temperature is not None

    @property
    def has_sets(self) -> bool:
        return self.aps is not None

    @property
    def T(self) -> float | None:  # noqa: N802 - the usual name
        return None if self.temperature is None else self.temperature.temperature

    # -- fitting --------------------------------------------------------------------------------------------------

    def fit(self, scores: ArrayLike | Sequence[Prediction], labels: ArrayLike, *, force: bool = False,
            min_n: int = MIN_FIT_ROWS) -> Calibrator:
        """Fit both scalers and APS on validation scores and integer labels in [0, 6).

        Raises :class:`~formwhy.calibration.CalibrationError` when the scalers' guards refuse (too few rows, a class
        missing) and ``force`` is False.
        """
        z = as_scores(scores)
        y = np.asarray(labels, dtype=np.int64)
        if y.shape != (z.shape[0],):
            raise ValueError(f"{z.shape[0]} score rows but labels has shape {y.shape}")
        notes: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CalibrationWarning)
            ts = TemperatureScaler().fit(z, y, min_n=min_n, force=force)
            vs = VectorScaler().fit(z, y, min_n=min_n, force=force)
        notes += [str(w.message) for w in caught if issubclass(w.category, CalibrationWarning)]
        cal_probs = ts.transform(z)
        aps = APS(alpha=self.alpha, randomized=True, seed=APS_SEED).fit(cal_probs, y)
        raw = softmax(z, axis=1)
        self.temperature, self.vector, self.aps = ts, vs, aps
        self.info = {
            "n": int(z.shape[0]),
            "counts": {name: int((y == i).sum()) for i, name in enumerate(NAMES)},
            "forced": bool(ts.forced or vs.forced),
            "nll": {"raw": nll(raw, y), "temperature": nll(cal_probs, y), "vector": nll(vs.transform(z), y)},
            "ece_15": {"raw": ece(raw, y), "temperature": ece(cal_probs, y), "vector": ece(vs.transform(z), y)},
            "notes": notes,
        }
        return self

    # -- use ------------------------------------------------------------------------------------------------------

    def apply(self, scores: ArrayLike | Sequence[Prediction], method: str = "temperature") -> np.ndarray:
        """Calibrated probabilities (n, 6); the raw probabilities when not fitted."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        z = as_scores(scores)
        if not self.is_fitted:
            return softmax(z, axis=1)
        if method == "vector":
            assert self.vector is not None
            return self.vector.transform(z)
        assert self.temperature is not None
        return self.temperature.transform(z)

    def sets(self, probs: ArrayLike) -> list[list[int]]:
        """APS prediction sets (class indices, most probable first) for calibrated probabilities."""
        if self.aps is None:
            raise CalibrationError("no conformal sets: the model is not calibrated (run `formwhy calibrate`)")
        # a fresh copy each call: the randomized tie-break U restarts from the seed, so the same input gives the
        # same sets
        return APS.from_dict(self.aps.to_dict()).predict_sets(probs)

    # -- persistence ----------------------------------------------------------------------------------------------

    def to_dict(self, **meta: Any) -> dict[str, Any]:
        if not self.is_fitted:
            raise CalibrationError("Calibrator is not fitted")
        assert self.temperature is not None and self.vector is not None and self.aps is not None
        return {
            "format": FORMAT,
            **meta,
            "classes": list(NAMES),
            "alpha": self.alpha,
            "temperature": self.temperature.to_dict(),
            "vector": self.vector.to_dict(),
            "aps": self.aps.to_dict(),
            "fit": self.info,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "formwhy_version": __version__,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a formwhy calibration (format {d.get('format')!r})")
        if list(d.get("classes", [])) != list(NAMES):
            raise ValueError(f"calibration classes {d.get('classes')} do not match {list(NAMES)}")
        obj = cls(alpha=float(d.get("alpha", DEFAULT_ALPHA)))
        obj.temperature = TemperatureScaler.from_dict(d["temperature"])
        obj.vector = VectorScaler.from_dict(d["vector"])
        obj.aps = APS.from_dict(d["aps"])
        obj.info = dict(d.get("fit", {}))
        obj.info["meta"] = {k: v for k, v in d.items()
                            if k not in ("temperature", "vector", "aps", "fit", "classes", "format")}
        return obj

    def save(self, model_dir: Path | str, **meta: Any) -> Path:
        """Write ``calibration.json`` into ``model_dir`` (atomically); ``meta`` (backend, model, data, ...) is kept
        alongside."""
        path = calibration_dir(model_dir) / CALIBRATION_FILE
        atomic_write_text(path, json.dumps(self.to_dict(**meta), indent=2) + "\n")
        return path

    @classmethod
    def exists(cls, model_dir: Path | str) -> bool:
        return (calibration_dir(model_dir) / CALIBRATION_FILE).exists()

    @classmethod
    def load(cls, model_dir: Path | str | None) -> Calibrator:
        """The calibration saved beside a model, or an unfitted (identity) calibrator when there is none.

        Raises ``ValueError`` naming the file when it exists but cannot be read.
        """
        if model_dir is None:
            return cls()
        path = calibration_dir(model_dir) / CALIBRATION_FILE
        if not path.exists():
            return cls()
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable calibration ({exc}); refit it with `formwhy calibrate`") from None
