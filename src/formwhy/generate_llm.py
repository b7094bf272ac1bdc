"""The LLM generator: synthetic labelled traces, one labelled example per API call.

Each request asks a chat model for ONE ``formwhy.trace/v1`` trace of a given abandonment class (with a suggested
form kind, device, length and, for a configurable share, a "hard case" with a misleading signal of another class),
plus a reasoning sentence grounded in the events and a verbalized confidence. The answer must be a single JSON
object ``{"label", "trace", "reasoning", "confidence"}``; answers that do not parse or do not validate are counted
by reason and dropped, never written.

Public API::

    gen = AnthropicGenerator(model="claude-sonnet-5-5")                 # key from ANTHROPIC_API_KEY
    gen = OpenAICompatibleGenerator(model="m", base_url="http://127.0.0.1:8000/v1")
    report = generate(1000, "data/llm.jsonl", gen, seed=0, concurrency=4)
    print(report.summary())

:func:`generate` is resumable: request ids (``llm-<seed>-<index>``) already in the output file are skipped, and a
truncated last line left by a crash is dropped and the file rewritten cleanly. Request ``i`` of a seed depends
only on ``(seed, i, prior, hard_share)``, so a longer run extends a shorter one.

Privacy: neither trace contents nor model text are logged; error messages carry at most the first 200 characters
of a server's error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx

from formwhy.dataset import DatasetError, Example
from formwhy.progress import progress as show_progress
from formwhy.taxonomy import CLASSES, DEFAULT_PRIOR, NAMES, by_name
from formwhy.trace import (
    DEVICES,
    ERROR_CODES,
    FIELD_TYPES,
    FORM_KINDS,
    MAX_T_MS,
    PRICE_KINDS,
    SCHEMA_ID,
    Trace,
    TraceValidationError,
    parse_trace,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ANTHROPIC_MODEL",
    "FAIL_STREAK_ABORT",
    "PROMPT_VERSION",
    "SYSTEM_PROMPT",
    "USER_PROMPT_TEMPLATE",
    "AnthropicGenerator",
    "FatalGeneratorError",
    "GenerationAborted",
    "GenerationReport",
    "GenerationRequest",
    "Generator",
    "GeneratorConfigError",
    "GeneratorError",
    "InvalidOutputError",
    "OpenAICompatibleGenerator",
    "RequestFailedError",
    "RetryableGeneratorError",
    "agenerate",
    "build_prompt",
    "extract_json_object",
    "generate",
    "parse_generation",
    "plan_requests",
    "read_done_ids",
]

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MAX_TOKENS = 6000
DEFAULT_TIMEOUT_S = 180.0
ERROR_SNIPPET = 200  # never show more of a server's (or model's) text than this
MAX_REASONING_CHARS = 600

# --- the prompt ------------------------------------------------------------------------------------------

PROMPT_VERSION = "formwhy-llm-gen/1"

_CLASS_LINES = "\n".join(
    f"{c.digit} {c.name}: {c.description}. Typical signals: {c.signals}." for c in CLASSES
)

SYSTEM_PROMPT = f"""\
You write synthetic training data for formwhy, a classifier that explains why a visitor abandoned a web form. \
Each answer is ONE realistic, privacy-safe trace of one visitor's session on one form, ending in abandonment for \
the cause you are asked for, with a one-sentence reasoning and your confidence.

# Trace format {SCHEMA_ID}
A JSON object with exactly these top-level keys: "schema" (always "{SCHEMA_ID}"), "session_id", "form", \
"context" (optional), "events".
- form: {{"id": str, "kind": {"|".join(FORM_KINDS)}, "steps": int >= 1 (pages of the form), "fields": [...]}}.
  Each field: {{"name", "type", "step" (default 1), "required" (default false), "sensitive" (default false)}}.
  name: 1-64 characters of A-Z a-z 0-9 _ . - [ ]. type: {"|".join(FIELD_TYPES)}.
  Mark card, phone, date of birth and ID-number fields "sensitive": true.
- context (optional): {{"device": {"|".join(DEVICES)}, "returning": bool, "cart_value": number >= 0, \
"currency": 3 capital letters, "locale": str}}.
- events: a list; every event has "t" (integer milliseconds since the form was first shown; never decreasing; \
at most {MAX_T_MS}) and "type", plus exactly the keys listed for its type (? = optional):
  view {{step}} | focus, blur, autofill, change {{field}} | input, paste {{field, len}} | error {{code, field?}} | \
click {{target}} | price {{kind, amount}} | submit {{step}} | response {{ok, status?, ms?}} | js_error {{code?}} | \
hidden, visible, exit {{}}
  error code: {"|".join(ERROR_CODES)}. price kind: {"|".join(PRICE_KINDS)}; amount a number >= 0.
  click target: a control name such as apply_coupon, shipping_info, privacy_policy, security_info, \
returns_policy, login, forgot_password, guest_checkout, back, help.
  t, len, step, status and ms are integers; ok is true or false.
- PRIVACY: no typed value is ever recorded. input and paste carry only "len", the length of the value after \
the event (len 0: the field was cleared). Never add "value", "text" or any other key; a trace with a key not \
listed here is invalid.
- Fields named in events are declared in form.fields. A session starts with view step 1 at t 0 and usually \
ends with exit.

# The six abandonment classes
{_CLASS_LINES}
Signals are typical, none is required. A clear case shows the signals of its class and not those of the others.

# Realism
Human timing: seconds between fields, input events in bursts as a person types (len growing), autofill fills \
several fields within milliseconds, a submit is followed by a response. Mobile sessions are slower with more \
refocus. Vary form ids, field names, amounts, currencies and pacing from answer to answer.

# Answer
Reply with a single JSON object and nothing else (no prose, no code fence):
{{"label": "<class name>", "trace": {{...}}, "reasoning": "...", "confidence": 0.0-1.0}}
- reasoning: one sentence, as an analyst reading only the trace would write it, grounded in concrete events \
(times, fields, amounts, codes, clicks). Never mention the request, the instructions or that the data is synthetic.
- confidence: how sure that analyst would be of the cause from the trace alone (a number from 0 to 1; clear cases \
about 0.75-0.95, hard cases about 0.4-0.7).
"""

USER_PROMPT_TEMPLATE = """\
Request id: {id}
Class: {digit} {label} ({description})
Form kind: {form_kind} (a suggestion; use another kind if it fits the class better)
Device: {device} (set context.device)
Length: about {length} events
{case}
Use "{id}" as the session_id. Answer with the JSON object only."""

CLEAR_CASE_TEXT = "Case: typical. The cause is clearly visible in the events."
HARD_CASE_TEXT = (
    "Case: HARD. Make the cause subtle: the {label} signals are present but weak or brief, and the trace also "
    "shows a misleading signal typical of {decoy} ({decoy_signals}). An analyst should still conclude {label}, "
    "with lower confidence."
)

# Suggested form kinds per class: where this cause of abandonment is common.
FORM_KIND_WEIGHTS: dict[str, dict[str, float]] = {
    "price_shock": {"checkout": 0.75, "signup": 0.15, "application": 0.05, "other": 0.05},
    "account_wall": {"checkout": 0.6, "application": 0.2, "lead": 0.1, "survey": 0.05, "other": 0.05},
    "trust_concern": {"checkout": 0.45, "application": 0.25, "signup": 0.15, "lead": 0.1, "other": 0.05},
    "form_friction": {
        "checkout": 0.3, "application": 0.3, "signup": 0.15, "lead": 0.1, "survey": 0.1, "other": 0.05,
    },
    "technical_error": {
        "checkout": 0.45, "signup": 0.2, "application": 0.15, "lead": 0.1, "survey": 0.05, "other": 0.05,
    },
    "distraction": {
        "checkout": 0.35, "lead": 0.2, "signup": 0.15, "application": 0.1, "survey": 0.15, "other": 0.05,
    },
}
DEVICE_WEIGHTS: dict[str, float] = {"desktop": 0.5, "mobile": 0.42, "tablet": 0.08}
LENGTH_WEIGHTS: dict[str, float] = {"10-25": 0.4, "25-45": 0.4, "45-80": 0.2}


@dataclass(frozen=True)
class GenerationRequest:
    """One planned API call: which class to write, with the caller's suggestions."""

    id: str
    index: int
    label: str
    form_kind: str
    device: str
    length: str
    hard: bool
    decoy: str | None = None


def build_prompt(request: GenerationRequest) -> tuple[str, str]:
    """``(system, user)`` prompt texts for one request."""
    cls = by_name(request.label)
    if request.hard and request.decoy:
        decoy = by_name(request.decoy)
        case = HARD_CASE_TEXT.format(label=cls.name, decoy=decoy.name, decoy_signals=decoy.signals)
    else:
        case = CLEAR_CASE_TEXT
    user = USER_PROMPT_TEMPLATE.format(
        id=request.id, digit=cls.digit, label=cls.name, description=cls.description,
        form_kind=request.form_kind, device=request.device, length=request.length, case=case,
    )
    return SYSTEM_PROMPT, user


def _check_prior(prior: Mapping[str, float]) -> dict[str, float]:
    unknown = [k for k in prior if k not in NAMES]
    if unknown:
        raise ValueError(f"prior: unknown class {unknown[0]!r}; expected one of {', '.join(NAMES)}")
    weights = {n: float(prior.get(n, 0.0)) for n in NAMES}
    if any(not (w >= 0 and math.isfinite(w)) for w in weights.values()):
        raise ValueError("prior: weights must be finite and >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("prior: at least one class needs a positive weight")
    return {n: w / total for n, w in weights.items()}


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan_requests(
    n: int, *, prior: Mapping[str, float] = DEFAULT_PRIOR, seed: int = 0, hard_share: float = 0.25,
) -> list[GenerationRequest]:
    """Plan ``n`` requests deterministically.

    Request ``i`` uses its own RNG seeded from ``(seed, i)``, so it depends only on ``seed``, ``i``, ``prior`` and
    ``hard_share``: the plan for ``n`` is a prefix of the plan for any larger ``n``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= hard_share <= 1.0:
        raise ValueError(f"hard_share must be within [0, 1], got {hard_share}")
    weights = _check_prior(prior)
    out = []
    for i in range(n):
        rng = random.Random(f"formwhy-llm/{seed}/{i}")
        label = _pick(rng, weights)
        form_kind = _pick(rng, FORM_KIND_WEIGHTS[label])
        device = _pick(rng, DEVICE_WEIGHTS)
        length = _pick(rng, LENGTH_WEIGHTS)
        hard = rng.random() < hard_share
        decoy = rng.choice([c for c in NAMES if c != label]) if hard else None
        out.append(GenerationRequest(f"llm-{seed}-{i}", i, label, form_kind, device, length, hard, decoy))
    return out


# --- errors ----------------------------------------------------------------------------------------------


def _snippet(text: Any) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= ERROR_SNIPPET else text[: ERROR_SNIPPET - 3] + "..."


class GeneratorError(RuntimeError):
    """A call to the model failed. ``reason`` is a short machine code; ``status`` the HTTP status if any."""

    def __init__(self, reason: str, message: str, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(message)


class GeneratorConfigError(ValueError):
    """The generator cannot be set up (e.g. no API key); raised before any call."""


class RetryableGeneratorError(GeneratorError):
    """429, 5xx (529 overloaded included), 408/409, timeouts, connection errors: worth another try."""

    def __init__(self, reason: str, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason, message, status)
        self.retry_after = retry_after


class RequestFailedError(GeneratorError):
    """This request failed for good (another 4xx, or retries exhausted); the run goes on."""


class FatalGeneratorError(GeneratorError):
    """Every request would fail the same way (401/403, model not found, server unreachable): stop the run."""


class InvalidOutputError(ValueError):
    """The model answered, but not with a usable example. ``reason`` is a short machine code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {_snippet(message)}")


class GenerationAborted(RuntimeError):
    """The run stopped on a fatal error; ``report`` holds what was done (written lines are kept: resume)."""

    def __init__(self, message: str, report: GenerationReport) -> None:
        self.report = report
        super().__init__(message)


def _parse_retry_after(headers: Mapping[str, str] | Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds, possibly fractional, or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_detail(body: Any, text: str = "") -> str:
    """The human part of an error body (Anthropic, OpenAI, vLLM, FastAPI shapes), at most 200 chars."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            kind = err.get("type") or err.get("code")
            msg = err.get("message")
            if msg:
                return _snippet(f"{kind}: {msg}" if kind else msg)
        elif isinstance(err, str):
            return _snippet(err)
        for key in ("message", "detail"):
            if body.get(key):
                return _snippet(body[key])
    return _snippet(text or body or "")


def _status_error(status: int, detail: str, headers: Any, *, who: str, base_url: str, model: str,
                  key_env: str) -> GeneratorError:
    """Map an HTTP error status to the right error class with a clear message."""
    tail = f" ({status}{': ' + detail if detail else ''})"
    if status == 401:
        return FatalGeneratorError(
            "auth", f"{who} at {base_url} rejected the API key{tail}; check {key_env}", status)
    if status == 403:
        return FatalGeneratorError(
            "forbidden", f"{who} at {base_url} refused access{tail}; check that the key in {key_env} "
            f"may use model {model!r}", status)
    if status == 404:
        return FatalGeneratorError(
            "not_found", f"model {model!r} not found at {base_url}{tail}; check the model name and the base URL",
            status)
    if status == 429:
        return RetryableGeneratorError("rate_limited", f"{who} rate limit{tail}", status,
                                       _parse_retry_after(headers))
    if status in (408, 409) or status >= 500:
        reason = "overloaded" if status == 529 else ("timeout" if status == 408 else "server_error")
        return RetryableGeneratorError(reason, f"{who} server error{tail}", status, _parse_retry_after(headers))
    return RequestFailedError(f"http_{status}", f"{who} refused the request{tail}", status)


# --- the clients -----------------------------------------------------------------------------------------


@runtime_checkable
class Generator(Protocol):
    """A chat model that writes one example per call; returns the raw model text.

    ``generate_one`` raises :class:`RetryableGeneratorError`, :class:`RequestFailedError`,
    :class:`FatalGeneratorError` or :class:`InvalidOutputError` (e.g. output cut off at ``max_tokens``).
    Clients are created lazily inside the running event loop and released by ``aclose``.
    """

    source: str
    model: str
    base_url: str

    async def generate_one(self, request: GenerationRequest) -> str: ...

    async def aclose(self) -> None: ...


class AnthropicGenerator:
    """Anthropic Messages API through the official ``anthropic`` SDK (async client, SDK retries off).

    ``temperature=None`` (the default) leaves the model's default sampling; a number is sent in the request body.
    """

    source = "anthropic"

    def __init__(
        self,
        model: str = DEFAULT_ANTHROPIC_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise GeneratorConfigError(
                "no Anthropic API key: set the ANTHROPIC_API_KEY environment variable (or pass api_key=...)")
        self.model = model
        self.base_url = (base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_ANTHROPIC_BASE_URL).rstrip("/")
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout = timeout
        self._api_key = key
        self._client: Any = None

    def __repr__(self) -> str:
        return f"AnthropicGenerator(model={self.model!r}, base_url={self.base_url!r})"

    def _get_client(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(
                api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout)
        return self._client

    async def generate_one(self, request: GenerationRequest) -> str:
        import anthropic

        system, user = build_prompt(request)
        # The 2.x SDK has no ``temperature`` keyword on messages.create; the API still takes it in the body.
        extra = {"temperature": self.temperature} if self.temperature is not None else None
        try:
            msg = await self._get_client().messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                extra_body=extra,
            )
        except anthropic.APITimeoutError:
            raise RetryableGeneratorError(
                "timeout", f"Anthropic API at {self.base_url}: no answer within {self.timeout:g} s") from None
        except anthropic.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise RetryableGeneratorError(
                "connection", f"cannot reach the Anthropic API at {self.base_url}: {_snippet(cause)}") from None
        except anthropic.APIStatusError as exc:
            detail = _error_detail(exc.body, getattr(exc, "message", ""))
            raise _status_error(
                exc.status_code, detail, exc.response.headers, who="Anthropic API", base_url=self.base_url,
                model=self.model, key_env="ANTHROPIC_API_KEY") from None
        text = "".join(getattr(b, "text", "") for b in msg.content if getattr(b, "type", None) == "text")
        if msg.stop_reason == "max_tokens":
            raise InvalidOutputError("truncated", f"the answer hit max_tokens={self.max_tokens}")
        return text

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


class OpenAICompatibleGenerator:
    """Any OpenAI-compatible chat endpoint (``POST {base_url}/chat/completions``) through ``httpx``."""

    source = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 1.0,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not model:
            raise GeneratorConfigError("OpenAI-compatible generator: a model name is required")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL).rstrip("/")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if self._api_key is None and "api.openai.com" in self.base_url:
            raise GeneratorConfigError(
                "no OpenAI API key: set the OPENAI_API_KEY environment variable (or pass api_key=...)")
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleGenerator(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"content-type": "application/json"}
            if self._api_key:
                headers["authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.AsyncClient(timeout=self.timeout, headers=headers)
        return self._client

    async def generate_one(self, request: GenerationRequest) -> str:
        system, user = build_prompt(request)
        payload = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        try:
            resp = await self._get_client().post(self.url, json=payload)
        except httpx.TimeoutException:
            raise RetryableGeneratorError(
                "timeout", f"OpenAI-compatible server at {self.base_url}: no answer within {self.timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise RetryableGeneratorError(
                "connection", f"cannot reach the OpenAI-compatible server at {self.base_url}: {_snippet(exc)}"
            ) from None
        if resp.status_code >= 400:
            try:
                body: Any = resp.json()
            except ValueError:
                body = None
            detail = _error_detail(body, resp.text)
            raise _status_error(
                resp.status_code, detail, resp.headers, who="OpenAI-compatible server", base_url=self.base_url,
                model=self.model, key_env="OPENAI_API_KEY")
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise RequestFailedError(
                "bad_response", f"OpenAI-compatible server at {self.base_url} sent a response without "
                "choices[0].message.content", resp.status_code) from None
        if choice.get("finish_reason") == "length":
            raise InvalidOutputError("truncated", f"the answer hit max_tokens={self.max_tokens}")
        if not isinstance(text, str):
            raise InvalidOutputError("empty", "the message content is not text")
        return text

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


# --- parsing the model's answer --------------------------------------------------------------------------

_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\r?\n(.*?)```", re.S)
_LINE_START_BRACE = re.compile(r"^[ \t]*\{", re.M)


def extract_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model's text; tolerates a ```json fence, leading prose and trailing text.

    Raises :class:`InvalidOutputError` with reason ``empty``, ``no_json`` or ``bad_json``.
    """
    if not text or not text.strip():
        raise InvalidOutputError("empty", "the model returned no text")
    # Candidate start points, most likely first: inside a fence, a line starting with "{", the first "{".
    sources: list[tuple[str, int]] = []
    fence = _FENCE.search(text)
    if fence:
        body = fence.group(1)
        if "{" in body:
            sources.append((body, body.index("{")))
    m = _LINE_START_BRACE.search(text)
    if m:
        sources.append((text, text.index("{", m.start())))
    if "{" in text:
        sources.append((text, text.index("{")))
    if not sources:
        raise InvalidOutputError("no_json", "no JSON object in the answer")
    decoder = json.JSONDecoder()
    error = "not an object"
    seen = set()
    for src, start in sources:
        if (id(src), start) in seen:
            continue
        seen.add((id(src), start))
        try:
            obj, _end = decoder.raw_decode(src, start)
        except json.JSONDecodeError as exc:
            error = f"{exc.msg} at char {exc.pos}"
            continue
        if isinstance(obj, dict):
            return obj
    raise InvalidOutputError("bad_json", f"the JSON object does not parse: {error}")


def parse_generation(
    text: str, request: GenerationRequest, *, source: str = "", model: str = "",
) -> Example:
    """Turn a model's answer into a labelled :class:`Example`, or raise :class:`InvalidOutputError`.

    Reasons, checked in this order: ``empty`` / ``no_json`` / ``bad_json``, ``wrong_label`` (a ``label`` or
    ``class`` key that is not the requested class; a missing one is fine), ``missing_trace``,
    ``trace_unknown_key`` (a key the schema does not list, e.g. ``value``: possibly typed data),
    ``invalid_trace``, ``bad_reasoning``, ``bad_confidence``. The trace's ``session_id`` is set to the request id.
    """
    obj = extract_json_object(text)
    label = obj.get("label", obj.get("class"))
    if label is not None and label != request.label:
        shown = label if isinstance(label, str) else type(label).__name__
        raise InvalidOutputError("wrong_label", f"asked for {request.label}, the answer says {shown[:40]}")
    if "trace" not in obj:
        raise InvalidOutputError("missing_trace", "the answer has no 'trace'")
    raw = obj["trace"]
    if not isinstance(raw, dict):
        raise InvalidOutputError("invalid_trace", "'trace' is not an object")
    try:
        trace: Trace = parse_trace({**raw, "session_id": request.id})
    except TraceValidationError as exc:
        unknown = any("unknown key" in e for e in exc.errors)
        raise InvalidOutputError("trace_unknown_key" if unknown else "invalid_trace",
                                 "; ".join(exc.errors)) from None
    reasoning = obj.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise InvalidOutputError("bad_reasoning", "reasoning must be a non-empty string")
    reasoning = " ".join(reasoning.split())
    if len(reasoning) > MAX_REASONING_CHARS:
        raise InvalidOutputError("bad_reasoning", f"reasoning is longer than {MAX_REASONING_CHARS} characters")
    conf = obj.get("confidence")
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not math.isfinite(conf):
        raise InvalidOutputError("bad_confidence", "confidence must be a number")
    if not 0.0 <= conf <= 1.0:
        raise InvalidOutputError("bad_confidence", f"confidence must be within [0, 1], got {conf}")
    return Example(
        trace=trace,
        label=request.label,
        id=request.id,
        reasoning=reasoning,
        confidence=float(conf),
        extra={"source": source, "model": model, "prompt_version": PROMPT_VERSION, "hard": request.hard},
    )


# --- the output file -------------------------------------------------------------------------------------


def read_done_ids(path: Path | str, *, repair: bool = True) -> tuple[set[str], bool]:
    """Ids already in a JSONL output file, and whether the file needed repair.

    A last line that is not valid JSON (a write cut short by a crash) is dropped; a last line without its
    newline gets one. With ``repair`` the file is then rewritten cleanly (atomically). Any other line that is not
    valid JSON raises :class:`~formwhy.dataset.DatasetError`: that is not a crash artefact, so it is left alone.
    """
    path = Path(path)
    if not path.exists():
        return set(), False
    data = path.read_bytes()
    if not data:
        return set(), False
    parts = data.split(b"\n")
    missing_newline = parts[-1] != b""
    if not missing_newline:
        parts = parts[:-1]
    last = max((i for i, p in enumerate(parts) if p.strip()), default=-1)
    ids: set[str] = set()
    kept: list[bytes] = []
    dropped = False
    for i, raw in enumerate(parts):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            if i == last:
                dropped = True
                log.warning("%s: dropping a truncated last line (%d bytes)", path, len(raw))
                continue
            raise DatasetError(
                f"{path}:{i + 1}: not valid JSON; only a truncated last line is repaired automatically, "
                "fix or remove this line before resuming") from None
        kept.append(raw)
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            ids.add(doc["id"])
    needs_repair = dropped or missing_newline
    if needs_repair and repair:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(b"".join(line + b"\n" for line in kept))
        tmp.replace(path)
    return ids, needs_repair


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class GenerationReport:
    """What a run did. ``invalid`` and ``failed_by_reason`` count by reason code."""

    requested: int
    out_path: str = ""
    source: str = ""
    model: str = ""
    prompt_version: str = PROMPT_VERSION
    written: int = 0
    skipped_existing: int = 0
    invalid: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    repaired: bool = False
    aborted: str | None = None
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)  # first few failure messages, each <= 200 chars

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested, "written": self.written, "skipped_existing": self.skipped_existing,
            "invalid": dict(self.invalid), "invalid_total": self.invalid_total, "failed": self.failed,
            "failed_by_reason": dict(self.failed_by_reason), "retries": self.retries, "repaired": self.repaired,
            "aborted": self.aborted, "elapsed": round(self.elapsed, 3), "out_path": self.out_path,
            "source": self.source, "model": self.model, "prompt_version": self.prompt_version,
            "errors": list(self.errors),
        }

    def summary(self) -> str:
        inv = ", ".join(f"{k} {v}" for k, v in sorted(self.invalid.items())) or "none"
        fail = ", ".join(f"{k} {v}" for k, v in sorted(self.failed_by_reason.items())) or "none"
        return (f"requested {self.requested}: written {self.written}, skipped (already done) "
                f"{self.skipped_existing}, invalid {self.invalid_total} ({inv}), failed {self.failed} ({fail}), "
                f"retries {self.retries}, {self.elapsed:.1f} s" + (f"; ABORTED: {self.aborted}" if self.aborted
                                                                    else ""))


MAX_REPORTED_ERRORS = 10
FAIL_STREAK_ABORT = 10  # this many requests in a row failed for good, with no answer between: stop the run


class _Run:
    def __init__(self, generator: Generator, report: GenerationReport, fh: Any, advance: Callable[..., None], *,
                 max_retries: int, base_delay: float, max_delay: float) -> None:
        self.generator = generator
        self.report = report
        self.fh = fh
        self.advance = advance
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.pause_until = 0.0
        self.received_any = False
        self.fatal: FatalGeneratorError | None = None
        self.fail_streak = 0
        self.jitter = random.Random()
        self.invalid: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def _note_error(self, message: str) -> None:
        if len(self.report.errors) < MAX_REPORTED_ERRORS:
            self.report.errors.append(_snippet(message))

    def _backoff(self, attempt: int) -> float:
        d = min(self.max_delay, self.base_delay * (2 ** attempt))
        return d / 2 + self.jitter.uniform(0, d / 2)

    async def _call(self, req: GenerationRequest) -> str:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            wait = self.pause_until - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                text = await self.generator.generate_one(req)
                self.received_any = True
                self.fail_streak = 0
                return text
            except RetryableGeneratorError as exc:
                if exc.status is not None:
                    self.received_any = True
                if attempt >= self.max_retries:
                    if exc.reason == "connection" and not self.received_any:
                        raise FatalGeneratorError(
                            "unreachable", f"{exc} (gave up after {attempt + 1} attempts; is the server running "
                            "and the base URL right?)") from None
                    raise RequestFailedError(exc.reason, f"{req.id}: {exc} (after {attempt + 1} attempts)",
                                             exc.status) from None
                if exc.retry_after is not None:
                    delay = min(exc.retry_after, 300.0) + self.jitter.uniform(0, self.base_delay)
                    self.pause_until = max(self.pause_until, loop.time() + delay)  # all workers back off
                else:
                    delay = self._backoff(attempt)
                log.info("%s: %s; retry %d/%d in %.2f s", req.id, _snippet(exc), attempt + 1, self.max_retries,
                         delay)
                self.report.retries += 1
                attempt += 1
                await asyncio.sleep(delay)
            except (RequestFailedError, FatalGeneratorError, InvalidOutputError):
                self.received_any = True
                raise

    async def process(self, req: GenerationRequest) -> None:
        try:
            try:
                text = await self._call(req)
                example = parse_generation(text, req, source=self.generator.source, model=self.generator.model)
            except InvalidOutputError as exc:
                self.invalid[exc.reason] += 1
                self.report.invalid = dict(self.invalid)
                log.info("%s: invalid answer dropped: %s", req.id, exc)
                return
            except RequestFailedError as exc:
                self.failed[exc.reason] += 1
                self.report.failed += 1
                self.report.failed_by_reason = dict(self.failed)
                self._note_error(str(exc))
                log.warning("%s", _snippet(exc))
                self.fail_streak += 1
                if self.fail_streak >= FAIL_STREAK_ABORT:
                    raise FatalGeneratorError(
                        "fail_streak", f"{self.fail_streak} requests in a row failed; the last: {_snippet(exc)}",
                        exc.status) from None
                return
            self.fh.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")
            self.fh.flush()
            self.report.written += 1
        finally:
            self._advance()

    def _advance(self) -> None:
        self.advance(1, note=f"done {self.report.written} · invalid {self.report.invalid_total} · "
                             f"failed {self.report.failed}")

    async def worker(self, todo: Iterator[GenerationRequest], tasks: list[asyncio.Task[None]]) -> None:
        for req in todo:
            if self.fatal is not None:
                return
            try:
                await self.process(req)
            except FatalGeneratorError as exc:
                if self.fatal is None:
                    self.fatal = exc
                    me = asyncio.current_task()
                    for t in tasks:
                        if t is not me:
                            t.cancel()
                return


async def agenerate(
    n: int,
    out_path: Path | str,
    generator: Generator,
    *,
    prior: Mapping[str, float] = DEFAULT_PRIOR,
    seed: int = 0,
    concurrency: int = 4,
    hard_share: float = 0.25,
    max_retries: int = 4,
    progress: bool = True,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
) -> GenerationReport:
    """The async form of :func:`generate` (for callers already inside an event loop)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("base_delay and max_delay must be >= 0")
    requests = plan_requests(n, prior=prior, seed=seed, hard_share=hard_share)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    done, repaired = read_done_ids(out)
    todo = [r for r in requests if r.id not in done]
    report = GenerationReport(
        requested=n, out_path=str(out), source=generator.source, model=generator.model,
        skipped_existing=n - len(todo), repaired=repaired,
    )
    if repaired:
        log.warning("%s: repaired (a truncated or unterminated last line)", out)
    run: _Run | None = None
    try:
        with out.open("a", encoding="utf-8") as fh, show_progress(
                f"generating {len(todo)} examples", len(todo), disable=not progress) as advance:
            run = _Run(generator, report, fh, advance, max_retries=max_retries, base_delay=base_delay,
                       max_delay=max_delay)
            it = iter(todo)
            tasks: list[asyncio.Task[None]] = []
            for _ in range(min(concurrency, len(todo))):
                tasks.append(asyncio.create_task(run.worker(it, tasks)))
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for res in results:
                if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                    raise res
    finally:
        await generator.aclose()
        report.elapsed = time.monotonic() - start
    if run is not None and run.fatal is not None:
        report.aborted = str(run.fatal)
        raise GenerationAborted(str(run.fatal), report)
    return report


def generate(
    n: int,
    out_path: Path | str,
    generator: Generator,
    *,
    prior: Mapping[str, float] = DEFAULT_PRIOR,
    seed: int = 0,
    concurrency: int = 4,
    hard_share: float = 0.25,
    max_retries: int = 4,
    progress: bool = True,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
) -> GenerationReport:
    """Generate ``n`` labelled examples with ``generator`` and append them to the JSONL file ``out_path``.

    Requests are planned from ``seed`` (see :func:`plan_requests`); those whose id is already in ``out_path`` are
    skipped (resume). At most ``concurrency`` calls run at once. 429, 5xx, timeouts and connection errors are
    retried up to ``max_retries`` times with exponential backoff (``base_delay`` doubling, capped at
    ``max_delay``, with jitter), honouring ``retry-after``. Each valid example is written as one line and flushed
    at once; invalid answers are counted by reason and dropped.

    Raises :class:`GenerationAborted` (with ``.report``) on 401/403, an unknown model, an unreachable server, or
    ``FAIL_STREAK_ABORT`` requests in a row failing for good. Lines already written stay: run again to resume.
    """
    return asyncio.run(agenerate(
        n, out_path, generator, prior=prior, seed=seed, concurrency=concurrency, hard_share=hard_share,
        max_retries=max_retries, progress=progress, base_delay=base_delay, max_delay=max_delay,
    ))
