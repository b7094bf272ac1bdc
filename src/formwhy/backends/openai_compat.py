"""OpenAI-compatible backend: the class probabilities from a vLLM or llama.cpp server's ``/v1/completions``.

One request per trace: ``POST {base_url}/completions`` with the project's prompt (:func:`build_prompt`),
``max_tokens`` 1 (more when a reasoning is asked), ``temperature`` 0 and ``logprobs`` = top-k (k <= 20 on vLLM,
its default ``--max-logprobs``). The six digit token ids are made explicit when they are known (from the adapter's
``formwhy.json`` manifest):

* ``return_tokens_as_token_ids: true`` (vLLM) makes every token read ``"token_id:N"``, so a digit is matched by id,
  not by its text; a server that ignores the field (llama.cpp) answers with text tokens, matched as ``"1"``..``"6"``;
* ``allowed_token_ids`` (vLLM only, ``flavor="vllm"``, probabilities only) makes the sampled token a digit.

Neither changes the returned log-probabilities: vLLM's default ``--logprobs-mode raw_logprobs`` and llama.cpp
both report the **unmasked** model's log-probabilities. So this backend renormalises over the six digits itself
and reports the probability mass the model put outside them in ``Prediction.extra["outside_mass"]``.

A digit absent from the top-k list gets a floor log-probability: the smallest log-probability the server returned
at that position (it is at most that likely), or :data:`FLOOR_LOGPROB` when the list is empty. The digits that got
the floor are listed in ``extra["floored_digits"]``; raise ``top_k`` (llama.cpp accepts more than 20) to avoid it.

The probabilities are raw; temperature scaling is applied on top by :mod:`formwhy.calibrator`, from the
``calibration.json`` beside the adapter passed as ``--model``, as for every backend.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from formwhy.answer import AnswerFormatError, parse_answer
from formwhy.backends.base import BackendError, Prediction
from formwhy.backends.http import post_retrying
from formwhy.llm.prompt import MAX_EVENT_LINES, PROMPT_VERSION, build_prompt
from formwhy.taxonomy import DIGITS

ENV_BASE_URL = "FORMWHY_OPENAI_BASE_URL"
ENV_MODEL = "FORMWHY_OPENAI_MODEL"
ENV_API_KEY = "FORMWHY_OPENAI_API_KEY"
DEFAULT_MODEL_NAME = "formwhy"
FLOOR_LOGPROB = -30.0  # when a position's top-k list is empty: e^-30 is ~1e-13, "not in the running"
_TOKEN_ID = re.compile(r"^token_id:(\d+)$")


class OpenAICompat:
    """The Backend contract over an OpenAI-compatible completions server (vLLM, llama.cpp)."""

    name = "openai"

    def __init__(self, base_url: str, model: str = DEFAULT_MODEL_NAME, digit_ids: Sequence[int] | None = None, *,
                 top_k: int = 20, flavor: str = "vllm", max_lines: int = MAX_EVENT_LINES,
                 max_new_tokens: int = 96, timeout: float = 60.0, retries: int = 3, backoff: float = 0.5,
                 concurrency: int = 4, api_key: str | None = None, adapter_dir: Path | str | None = None,
                 transport: Any = None) -> None:
        import httpx

        if flavor not in ("vllm", "llamacpp"):
            raise ValueError(f"flavor must be vllm or llamacpp, not {flavor!r}")
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.digit_ids = list(digit_ids) if digit_ids is not None else None
        if self.digit_ids is not None and len(self.digit_ids) != len(DIGITS):
            raise ValueError(f"digit_ids must name {len(DIGITS)} token ids, got {self.digit_ids}")
        self.top_k = top_k
        self.flavor = flavor
        self.max_lines = max_lines
        self.max_new_tokens = max_new_tokens
        self.retries = retries
        self.backoff = backoff
        self.concurrency = max(1, concurrency)
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), headers=headers, transport=transport,
            limits=httpx.Limits(max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency))

    #: settings a service backend config may give (``options``); an API key stays in the environment
    OPTIONS = ("base_url", "model", "flavor", "top_k", "max_new_tokens", "timeout", "retries", "backoff",
               "concurrency")

    @classmethod
    def from_env(cls, model_path: Path | str | None = None, **kwargs: Any) -> OpenAICompat:
        """Base URL and model name from ``FORMWHY_OPENAI_BASE_URL`` / ``FORMWHY_OPENAI_MODEL``; digit ids, prompt
        version and event-line cut from the adapter manifest in ``model_path`` when there is one."""
        base_url = kwargs.pop("base_url", None) or os.environ.get(ENV_BASE_URL)
        if not base_url:
            raise BackendError("openai", f"no server URL: pass --base-url http://HOST:PORT/v1 or set {ENV_BASE_URL}")
        model = kwargs.pop("model", None) or os.environ.get(ENV_MODEL) or DEFAULT_MODEL_NAME
        digit_ids, max_lines = None, MAX_EVENT_LINES
        if model_path is not None and (Path(model_path) / "formwhy.json").exists():
            from formwhy.llm.train import read_manifest

            manifest = read_manifest(model_path)
            if manifest.get("prompt_version") != PROMPT_VERSION:
                raise BackendError("openai", f"{model_path} was trained on prompt {manifest.get('prompt_version')!r}; "
                                             f"this formwhy builds {PROMPT_VERSION!r}")
            digit_ids = manifest.get("digit_token_ids")
            max_lines = manifest.get("max_event_lines", MAX_EVENT_LINES)
        return cls(base_url, model, digit_ids, max_lines=max_lines, api_key=os.environ.get(ENV_API_KEY),
                   adapter_dir=model_path, **kwargs)

    @property
    def model_id(self) -> str:
        return f"{self.model} @ {self.base_url}"

    def close(self) -> None:
        self.client.close()

    # -- HTTP ---------------------------------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = self.base_url + path

        def unreachable(exc: Exception) -> str:
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                return f"cannot reach {url} ({exc}); is the server running and the URL right (it ends in /v1)?"
            return f"{url} timed out ({type(exc).__name__})"

        resp = post_retrying(self.client, url, body, backend=self.name, retries=self.retries, backoff=self.backoff,
                             unreachable=unreachable,
                             retry_reason=lambda r: f"{url} answered HTTP {r.status_code}: {_error_message(r)}")
        if resp.status_code == 404 or (resp.status_code == 400 and "does not exist" in resp.text):
            msg = _error_message(resp)
            if "model" in msg.lower() or resp.status_code == 400:
                raise BackendError(self.name, f"the server at {self.base_url} does not serve model "
                                              f"{self.model!r} ({msg}); it serves: {self._served_models()}. "
                                              "Pass --model-name with one of those.")
            raise BackendError(self.name, f"{url}: HTTP 404 ({msg}); is the URL right (it ends in /v1)?")
        if resp.status_code >= 400:
            raise BackendError(self.name, f"{url} answered HTTP {resp.status_code}: {_error_message(resp)}")
        try:
            data = resp.json()
        except ValueError:
            raise BackendError(self.name, f"answer of the wrong shape from {url}: not JSON: "
                                          f"{resp.text[:200]!r}") from None
        if not isinstance(data, dict):
            raise BackendError(self.name, f"answer of the wrong shape from {url}: not a JSON object")
        return data

    def _served_models(self) -> str:
        try:
            resp = self.client.get(self.base_url + "/models", timeout=5.0)
            ids = [m.get("id") for m in resp.json().get("data", [])]
            return ", ".join(repr(i) for i in ids if i) or "(none listed)"
        except Exception:  # noqa: BLE001 - a best-effort hint only
            return "(could not list /models)"

    # -- one trace ----------------------------------------------------------------------------------------

    def request_body(self, prompt: str, reasoning: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "temperature": 0.0,
                                "max_tokens": self.max_new_tokens if reasoning else 1, "logprobs": self.top_k}
        if self.digit_ids is not None:
            body["return_tokens_as_token_ids"] = True
            if self.flavor == "vllm" and not reasoning:
                body["allowed_token_ids"] = self.digit_ids
        return body

    def digit_logprobs(self, data: dict[str, Any]) -> tuple[np.ndarray, list[int], str]:
        """(six raw log-probabilities, digits that got the floor, generated text) from a completions answer."""
        try:
            choice = data["choices"][0]
            lp = choice["logprobs"]
            top = lp["top_logprobs"][0]
            text = choice.get("text") or ""
        except (KeyError, IndexError, TypeError):
            raise BackendError(self.name, "answer of the wrong shape: no choices[0].logprobs.top_logprobs[0] "
                                          f"(does the server support logprobs?): {str(data)[:300]}") from None
        if isinstance(top, list):  # some servers send [{"token": .., "logprob": ..}]
            top = {e.get("token"): e.get("logprob") for e in top if isinstance(e, dict)}
        if not isinstance(top, dict):
            raise BackendError(self.name, f"answer of the wrong shape: top_logprobs[0] is {type(top).__name__}")
        # the sampled token may be absent from top_logprobs on some servers: add it
        tokens, token_lps = lp.get("tokens") or [], lp.get("token_logprobs") or []
        if tokens and token_lps and tokens[0] not in top and token_lps[0] is not None:
            top = {**top, tokens[0]: token_lps[0]}
        found: dict[int, float] = {}
        values: list[float] = []
        for key, value in top.items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise BackendError(self.name, f"answer of the wrong shape: logprob {value!r} for {key!r}") from None
            if math.isnan(v):
                continue
            values.append(v)
            k = self._digit_index(str(key))
            if k is not None:
                found[k] = max(v, found.get(k, -math.inf))
        floor = min(values) if values else FLOOR_LOGPROB
        floored = [i + 1 for i in range(len(DIGITS)) if i not in found]
        out = np.array([found.get(i, floor) for i in range(len(DIGITS))], dtype=np.float64)
        return out, floored, text

    def _digit_index(self, key: str) -> int | None:
        m = _TOKEN_ID.match(key)
        if m:
            tid = int(m.group(1))
            if self.digit_ids is not None and tid in self.digit_ids:
                return self.digit_ids.index(tid)
            return None
        if key in DIGITS:
            return DIGITS.index(key)
        return None

    def _one(self, trace: Any, reasoning: bool) -> Prediction:
        prompt = build_prompt(trace, self.max_lines)
        t0 = time.perf_counter()
        data = self._post("/completions", self.request_body(prompt, reasoning))
        ms = (time.perf_counter() - t0) * 1000
        lps, floored, text = self.digit_logprobs(data)
        z = lps - lps.max()
        probs = np.exp(z)
        probs /= probs.sum()
        inside = float(np.exp(lps).sum())
        extra: dict[str, Any] = {"outside_mass": float(min(1.0, max(0.0, 1.0 - inside)))}
        if floored:
            extra["floored_digits"] = floored
        pred = Prediction(probs=probs, logits=lps, latency_ms=ms, extra=extra)
        if reasoning:
            try:
                ans = parse_answer(text)
                pred.reasoning, pred.verbalized, pred.verbalized_label = ans.reasoning, ans.confidence, ans.label
            except AnswerFormatError as exc:
                pred.extra["answer_error"] = exc.reason
        return pred

    # -- the Backend contract ----------------------------------------------------------------------------

    def predict(self, traces: Sequence[Any], *, reasoning: bool = False) -> list[Prediction]:
        if self.concurrency == 1 or len(traces) <= 1:
            return [self._one(t, reasoning) for t in traces]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda t: self._one(t, reasoning), traces))


def _error_message(resp: Any) -> str:
    """The server's error message: vLLM ``{"object": "error", "message": ...}``, OpenAI ``{"error": {...}}``."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:200] or resp.reason_phrase
    if isinstance(data, dict):
        if isinstance(data.get("message"), str):
            return data["message"]
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        if isinstance(data.get("detail"), str):
            return data["detail"]
    return str(data)[:200]
