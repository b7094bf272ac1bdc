"""The backend contract: the one interface that calibration, evaluation and the service talk to.

Like scikit-learn's ``predict_proba``: a batch of traces in, per trace the six **raw** (uncalibrated) class
probabilities, in class-digit order (column 0 is digit 1, ``price_shock``). A backend may also give the logits
(or log-probabilities) those came from, a verbalized confidence and a reasoning, and always reports its timing.
Calibration (temperature / vector scaling, conformal sets) is applied on top by :mod:`formwhy.calibrator`, never
inside a backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from formwhy.taxonomy import NUM_CLASSES
from formwhy.trace import Trace


class BackendError(RuntimeError):
    """A backend could not answer (unreachable, timed out, malformed answer). The message says which and why."""

    def __init__(self, backend: str, message: str) -> None:
        self.backend = backend
        super().__init__(f"{backend}: {message}")


@dataclass
class Prediction:
    """One trace's answer from a backend.

    ``probs``: the six raw class probabilities (sum 1). ``logits``: the scores they are a softmax of, when the
    backend has them (log-probabilities count); calibration works on these. ``verbalized``: the model's own stated
    confidence in ``verbalized_label`` (``None`` when the backend has none). ``latency_ms``: wall time for this
    trace (a batch's time divided by its size when batched). ``extra``: backend-specific facts, e.g. the
    probability mass outside the six digits.
    """

    probs: np.ndarray
    logits: np.ndarray | None = None
    verbalized: float | None = None
    verbalized_label: str | None = None
    reasoning: str | None = None
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.probs = np.asarray(self.probs, dtype=np.float64)
        if self.probs.shape != (NUM_CLASSES,):
            raise ValueError(f"probs must have shape ({NUM_CLASSES},), got {self.probs.shape}")
        total = float(self.probs.sum())
        if not np.all(np.isfinite(self.probs)) or np.any(self.probs < 0) or abs(total - 1.0) > 1e-4:
            raise ValueError(f"probs must be finite, >= 0 and sum to 1 (sum {total:.6f})")
        if self.logits is not None:
            self.logits = np.asarray(self.logits, dtype=np.float64)

    def scores(self) -> np.ndarray:
        """What calibration scales: the logits when known, else the log of the probabilities."""
        if self.logits is not None:
            return self.logits
        return np.log(np.clip(self.probs, 1e-12, 1.0))


@runtime_checkable
class Backend(Protocol):
    """What every backend implements."""

    name: str

    @property
    def model_id(self) -> str:
        """A short description of the model behind it (path, adapter, server model name)."""
        ...

    def predict(self, traces: Sequence[Trace], *, reasoning: bool = False) -> list[Prediction]:
        """Raw predictions for a batch, one per trace, in order. Raises :class:`BackendError` on failure."""
        ...


def stack_scores(preds: Sequence[Prediction]) -> np.ndarray:
    return np.stack([p.scores() for p in preds])


def stack_probs(preds: Sequence[Prediction]) -> np.ndarray:
    return np.stack([p.probs for p in preds])
