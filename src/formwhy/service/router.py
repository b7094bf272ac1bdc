"""The routing policy: which backend answers a trace, with timeouts, fallbacks and abstention.

Backends are tried in the configured order (the fast ``features`` path first). For each trace:

1. a backend answers when its calibrated top probability is >= ``confident_threshold``, or when the request's
   latency budget leaves too little for the next backend (``min_budget_ms``), or when it is the last one left;
2. otherwise the trace is escalated to the next backend; the answer so far is kept in case the next one fails;
3. a backend that is unavailable (its model did not load), times out (``timeout_s``, via ``asyncio.wait_for`` on
   a thread-pool call) or raises is recorded in ``fallbacks`` and the next one is tried; when an escalation fails,
   the earlier backend's answer stands;
4. the final answer abstains when its prediction set holds more than one class and its top probability is below
   ``abstain_threshold`` (without conformal sets: when the top probability is below it).

When no backend answers a trace, :class:`AllBackendsFailed` is raised (the service turns it into a 503).
See ``docs/routing.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from formwhy.backends.base import Backend, BackendError, Prediction
from formwhy.calibrator import Calibrator
from formwhy.service.config import BackendConfig, RoutingPolicy
from formwhy.taxonomy import CLASSES, NAMES
from formwhy.trace import Trace

log = logging.getLogger("formwhy.service")


class AllBackendsFailed(RuntimeError):
    def __init__(self, fallbacks: list[dict[str, str]]) -> None:
        self.fallbacks = fallbacks
        reasons = "; ".join(f"{f['backend']}: {f['reason']}" for f in fallbacks) or "no backend configured"
        super().__init__(f"no backend could classify the trace ({reasons})")


@dataclass
class Slot:
    """A configured backend: loaded (``backend``) or unavailable (``error``)."""

    config: BackendConfig
    backend: Backend | None = None
    calibrator: Calibrator = field(default_factory=Calibrator)
    error: str | None = None
    load_ms: float = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def available(self) -> bool:
        return self.backend is not None

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "available": self.available}
        if self.available:
            assert self.backend is not None
            out["model"] = self.backend.model_id
            out["calibrated"] = self.calibrator.is_fitted
            out["prediction_sets"] = self.calibrator.has_sets
        else:
            out["error"] = self.error
        return out


def load_slot(cfg: BackendConfig) -> Slot:
    """Load one backend and its calibration; any failure makes the slot unavailable (never raises)."""
    from formwhy.backends.registry import load_backend, resolve_model_path
    from formwhy.calibrator import calibration_dir

    t0 = time.perf_counter()
    slot = Slot(cfg)
    try:
        path = resolve_model_path(cfg.name, cfg.model)
        slot.backend = load_backend(cfg.name, path, **cfg.options)
        slot.calibrator = Calibrator.load(calibration_dir(path) if path is not None else None)
    except Exception as exc:  # noqa: BLE001 - a backend that cannot load is reported, never fatal
        slot.backend = None
        slot.error = f"{type(exc).__name__}: {exc}"
    slot.load_ms = (time.perf_counter() - t0) * 1000
    return slot


@dataclass
class Decision:
    """The routed answer for one trace."""

    probs: np.ndarray
    prediction_set: list[str] | None
    backend: str
    calibrated: bool
    reasoning: str | None
    verbalized: float | None
    abstained: bool = False
    escalated: bool = False
    fallbacks: list[dict[str, str]] = field(default_factory=list)

    def top(self) -> int:
        return int(self.probs.argmax())

    def to_dict(self) -> dict[str, Any]:
        k = self.top()
        cls = CLASSES[k]
        out: dict[str, Any] = {
            "class": cls.name,
            "digit": cls.digit,
            "probabilities": {n: round(float(v), 6) for n, v in zip(NAMES, self.probs, strict=True)},
            "confidence": round(float(self.probs[k]), 6),
            "calibrated": self.calibrated,
            "prediction_set": self.prediction_set,
            "abstained": self.abstained,
            "recovery_flow": cls.recovery_flow,
            "recovery": cls.recovery,
            "backend": self.backend,
            "escalated": self.escalated,
            "fallbacks": self.fallbacks,
        }
        if self.verbalized is not None:
            out["verbalized_confidence"] = self.verbalized
        out["reasoning"] = self.reasoning
        return out


class Router:
    def __init__(self, slots: Sequence[Slot], policy: RoutingPolicy, *, workers: int = 8) -> None:
        self.slots = list(slots)
        self.policy = policy
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="formwhy-backend")
        self.on_fallback: Any = None  # callback(backend, reason) for metrics

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _call(self, slot: Slot, traces: list[Trace], reasoning: bool) -> list[Prediction]:
        assert slot.backend is not None
        loop = asyncio.get_running_loop()
        backend = slot.backend
        fut = loop.run_in_executor(self.executor, lambda: backend.predict(traces, reasoning=reasoning))
        preds = await asyncio.wait_for(fut, timeout=slot.config.timeout_s)
        if len(preds) != len(traces):
            raise BackendError(slot.name, f"returned {len(preds)} predictions for {len(traces)} traces")
        return preds

    def _fallback(self, fallbacks: list[dict[str, str]], slot: Slot, reason: str) -> None:
        fallbacks.append({"backend": slot.name, "reason": reason})
        if self.on_fallback is not None:
            self.on_fallback(slot.name, reason.split(":", 1)[0])

    async def classify(self, traces: Sequence[Trace], *, reasoning: bool = False,
                       latency_budget_ms: float | None = None) -> list[Decision | AllBackendsFailed]:
        """One Decision per trace (or the AllBackendsFailed for a trace no backend answered)."""
        t0 = time.perf_counter()
        budget = latency_budget_ms if latency_budget_ms is not None else self.policy.default_latency_budget_ms
        n = len(traces)
        best: list[Decision | None] = [None] * n
        fallbacks: list[list[dict[str, str]]] = [[] for _ in range(n)]
        pending = list(range(n))
        for pos, slot in enumerate(self.slots):
            if not pending:
                break
            if budget is not None:
                left = budget - (time.perf_counter() - t0) * 1000
                if left < slot.config.min_budget_ms:
                    # too little budget to escalate to this one: traces that have an answer keep it (a later
                    # backend may need less); traces with no answer yet still try it
                    pending = [i for i in pending if best[i] is None]
                    if not pending:
                        continue
            if not slot.available:
                for i in pending:
                    self._fallback(fallbacks[i], slot, f"unavailable: {slot.error}")
                continue
            batch = [traces[i] for i in pending]
            try:
                preds = await self._call(slot, batch, reasoning)
                probs = slot.calibrator.apply(preds, method=slot.config.calibration)
                sets = (slot.calibrator.sets(slot.calibrator.apply(preds, method="temperature"))
                        if slot.calibrator.has_sets else None)
            except TimeoutError:
                for i in pending:
                    self._fallback(fallbacks[i], slot, f"timeout: no answer within {slot.config.timeout_s:g} s")
                continue
            except Exception as exc:  # noqa: BLE001 - any backend failure falls back, never a 500
                log.warning("backend %s failed: %s", slot.name, type(exc).__name__)
                for i in pending:
                    self._fallback(fallbacks[i], slot, f"error: {_short(exc)}")
                continue
            still: list[int] = []
            later = any(s.available for s in self.slots[pos + 1:])
            for j, i in enumerate(pending):
                p = np.asarray(probs[j], dtype=np.float64)
                dec = Decision(
                    probs=p,
                    prediction_set=None if sets is None else [NAMES[c] for c in sets[j]],
                    backend=slot.name,
                    calibrated=slot.calibrator.is_fitted,
                    reasoning=preds[j].reasoning,
                    verbalized=preds[j].verbalized,
                    escalated=best[i] is not None,
                )
                best[i] = dec
                confident = float(p.max()) >= self.policy.confident_threshold
                if confident or not later:
                    continue
                still.append(i)
            pending = still
        out: list[Decision | AllBackendsFailed] = []
        for i in range(n):
            dec = best[i]
            if dec is None:
                out.append(AllBackendsFailed(fallbacks[i]))
                continue
            dec.fallbacks = fallbacks[i]
            top = float(dec.probs.max())
            many = dec.prediction_set is None or len(dec.prediction_set) > 1
            dec.abstained = many and top < self.policy.abstain_threshold
            out.append(dec)
        return out


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
