"""Fake backends for the service tests: they implement the Backend contract and can be slow or broken on purpose."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from formwhy.backends.base import BackendError, Prediction
from formwhy.trace import Trace

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "formwhy" / "spec" / "examples"


def example(name: str = "1-price_shock") -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


class FakeBackend:
    """Answers ``probs`` for every trace, after ``delay_s``; raises when ``fail`` is set."""

    def __init__(self, name: str, probs: Sequence[float], *, delay_s: float = 0.0, fail: str | None = None,
                 reasoning: str = "fake reasoning") -> None:
        self.name = name
        self.probs = np.asarray(probs, dtype=np.float64)
        self.delay_s = delay_s
        self.fail = fail
        self.calls = 0
        self.reasoning_text = reasoning

    @property
    def model_id(self) -> str:
        return f"fake:{self.name}"

    def predict(self, traces: Sequence[Trace], *, reasoning: bool = False) -> list[Prediction]:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail == "backend_error":
            raise BackendError(self.name, "model server unreachable")
        if self.fail:
            raise RuntimeError(self.fail)
        return [Prediction(probs=self.probs.copy(), reasoning=self.reasoning_text if reasoning else None,
                           latency_ms=1.0) for _ in traces]


CONFIDENT = [0.95, 0.01, 0.01, 0.01, 0.01, 0.01]       # price_shock, sure
UNSURE = [0.40, 0.35, 0.10, 0.05, 0.05, 0.05]          # price_shock vs account_wall
LLM_SURE = [0.02, 0.90, 0.02, 0.02, 0.02, 0.02]        # account_wall
