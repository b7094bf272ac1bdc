"""Cloudflare Workers AI backend: a LoRA on a Workers AI base model, over the REST API.

``POST {api}/accounts/{account_id}/ai/run/{model}`` with ``{"prompt", "raw": true, "lora": NAME, "max_tokens"}``
and a bearer token; the answer is ``{"result": {"response": TEXT}, "success": true, "errors": [], ...}``.

Workers AI returns **no log-probabilities**. The only confidence is the verbalized one in the model's JSON answer
(spec section 3), so a Prediction's ``probs`` are built from it: the verbalized confidence ``c`` on the answered
class and ``(1 - c) / 5`` on each of the five others (``c`` is raised to 1/6 when lower, so that the answered class
stays the most probable; ``extra["confidence_raised"]`` says so). Every Prediction is marked
``extra["verbalized_only"] = True``. An answer that does not parse gets the uniform distribution and
``extra["answer_error"]`` (the :class:`AnswerFormatError` reason code). Calibration fitted on these numbers
calibrates the verbalized confidence, which is weaker than the first-token probabilities of the other backends.

Settings from the environment: ``CLOUDFLARE_API_TOKEN``, ``CLOUDFLARE_ACCOUNT_ID`` (required),
``FORMWHY_WORKERS_AI_MODEL`` (default ``@cf/google/gemma-2b-it-lora``), ``FORMWHY_WORKERS_AI_LORA`` (the
fine-tune's name or id, default ``formwhy``), ``CLOUDFLARE_API_BASE_URL`` (default the public API; tests point it
at a local server).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from formwhy.answer import AnswerFormatError, parse_answer
from formwhy.backends.base import BackendError, Prediction
from formwhy.backends.http import post_retrying
from formwhy.llm.prompt import MAX_EVENT_LINES, build_prompt
from formwhy.taxonomy import NUM_CLASSES

API_BASE = "https://api.cloudflare.com/client/v4"
DEFAULT_MODEL = "@cf/google/gemma-2b-it-lora"
DEFAULT_LORA = "formwhy"
UNKNOWN_FINETUNE = 3037


def verbalized_probs(digit: int, confidence: float) -> tuple[np.ndarray, bool]:
    """(six probabilities, whether c was raised): c on class ``digit`` (1-6), the rest spread evenly."""
    c = float(confidence)
    raised = c < 1.0 / NUM_CLASSES
    c = min(1.0, max(c, 1.0 / NUM_CLASSES))
    probs = np.full(NUM_CLASSES, (1.0 - c) / (NUM_CLASSES - 1))
    probs[digit - 1] = c
    return probs / probs.sum(), raised


class WorkersAI:
    """The Backend contract over Workers AI's REST ``ai/run`` endpoint (verbalized confidence only)."""

    name = "workers-ai"

    def __init__(self, account_id: str, api_token: str, model: str = DEFAULT_MODEL, lora: str | None = DEFAULT_LORA,
                 *, api_base: str = API_BASE, max_lines: int = MAX_EVENT_LINES, max_tokens: int = 128,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 0.5, transport: Any = None) -> None:
        import httpx

        self.account_id = account_id
        self.model = model
        self.lora = lora
        self.api_base = api_base.rstrip("/")
        self.max_lines = max_lines
        self.max_tokens = max_tokens
        self.retries = retries
        self.backoff = backoff
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport,
                                   headers={"Authorization": f"Bearer {api_token}"})

    #: settings a service backend config may give (``options``); the token and account stay in the environment
    OPTIONS = ("model", "lora", "api_base", "timeout", "retries", "max_tokens")

    @classmethod
    def from_env(cls, model_path: Path | str | None = None, **kwargs: Any) -> WorkersAI:
        token, account = os.environ.get("CLOUDFLARE_API_TOKEN"), os.environ.get("CLOUDFLARE_ACCOUNT_ID")
        missing = [n for n, v in (("CLOUDFLARE_API_TOKEN", token), ("CLOUDFLARE_ACCOUNT_ID", account)) if not v]
        if missing:
            raise BackendError("workers-ai", f"set {' and '.join(missing)} (a token with Workers AI permission)")
        max_lines = MAX_EVENT_LINES
        if model_path is not None and (Path(model_path) / "formwhy.json").exists():
            from formwhy.llm.train import read_manifest

            max_lines = read_manifest(model_path).get("max_event_lines", MAX_EVENT_LINES)
        model = kwargs.pop("model", None) or os.environ.get("FORMWHY_WORKERS_AI_MODEL", DEFAULT_MODEL)
        lora = kwargs.pop("lora", None) or os.environ.get("FORMWHY_WORKERS_AI_LORA", DEFAULT_LORA)
        api_base = kwargs.pop("api_base", None) or os.environ.get("CLOUDFLARE_API_BASE_URL", API_BASE)
        return cls(str(account), str(token), model, lora, api_base=api_base, max_lines=max_lines, **kwargs)

    @property
    def model_id(self) -> str:
        return f"{self.model} + lora {self.lora}" if self.lora else self.model

    def url(self) -> str:
        return f"{self.api_base}/accounts/{self.account_id}/ai/run/{self.model}"

    def request_body(self, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": prompt, "raw": True, "max_tokens": self.max_tokens, "temperature": 0}
        if self.lora:
            body["lora"] = self.lora
        return body

    def run(self, prompt: str) -> str:
        """The model's raw answer text for one prompt; BackendError with Cloudflare's error codes on failure."""
        resp = post_retrying(
            self.client, self.url(), self.request_body(prompt), backend=self.name, retries=self.retries,
            backoff=self.backoff, unreachable=lambda exc: f"cannot reach {self.api_base} ({type(exc).__name__}: {exc})",
            retry_reason=lambda r: f"HTTP {r.status_code}: {_errors(_json_or_none(r)) or r.text[:200]}")
        data = _json_or_none(resp)
        if not isinstance(data, dict):
            raise BackendError(self.name, f"answer of the wrong shape (HTTP {resp.status_code}): "
                                          f"{resp.text[:200]!r}")
        if resp.status_code >= 400 or not data.get("success", False):
            codes = {e.get("code") for e in data.get("errors") or [] if isinstance(e, dict)}
            if UNKNOWN_FINETUNE in codes:
                raise BackendError(self.name, f"Workers AI does not know the fine-tune {self.lora!r} on "
                                              f"{self.model} ({_errors(data)}); upload it with "
                                              "deploy/cloudflare/upload.sh or list them with "
                                              "`npx wrangler ai finetune list`")
            if resp.status_code in (401, 403):
                raise BackendError(self.name, f"not authorised (HTTP {resp.status_code}: {_errors(data)}); "
                                              "check CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID")
            raise BackendError(self.name, f"HTTP {resp.status_code}: {_errors(data) or data}")
        result = data.get("result")
        text = result.get("response") if isinstance(result, dict) else None
        if not isinstance(text, str):
            raise BackendError(self.name, f"answer of the wrong shape: no result.response in {str(data)[:200]}")
        return text

    def predict(self, traces: Sequence[Any], *, reasoning: bool = False) -> list[Prediction]:
        preds = []
        for trace in traces:
            t0 = time.perf_counter()
            text = self.run(build_prompt(trace, self.max_lines))
            ms = (time.perf_counter() - t0) * 1000
            extra: dict[str, Any] = {"verbalized_only": True}
            try:
                ans = parse_answer(text)
            except AnswerFormatError as exc:
                extra["answer_error"] = exc.reason
                preds.append(Prediction(probs=np.full(NUM_CLASSES, 1.0 / NUM_CLASSES), latency_ms=ms, extra=extra))
                continue
            probs, raised = verbalized_probs(ans.digit, ans.confidence)
            if raised:
                extra["confidence_raised"] = True
            preds.append(Prediction(probs=probs, verbalized=ans.confidence, verbalized_label=ans.label,
                                    reasoning=ans.reasoning if reasoning else None, latency_ms=ms, extra=extra))
        return preds


def _errors(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    errs = data.get("errors") or []
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs if isinstance(e, dict))


def _json_or_none(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None
