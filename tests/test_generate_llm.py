"""The LLM generator (``formwhy.generate_llm``).

The client tests run the real clients (the official ``anthropic`` SDK, and ``httpx`` for OpenAI-compatible servers)
against local HTTP servers on 127.0.0.1 that speak the same wire protocols: the Anthropic Messages API
(``POST /v1/messages``) and OpenAI chat completions (``POST /v1/chat/completions``). The servers answer with canned
traces from the spec examples, some invalid on purpose, and with scripted errors.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from formwhy.dataset import DatasetError, example_from_json, iter_examples
from formwhy.generate_llm import (
    FAIL_STREAK_ABORT,
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    AnthropicGenerator,
    GenerationAborted,
    GenerationRequest,
    Generator,
    GeneratorConfigError,
    InvalidOutputError,
    OpenAICompatibleGenerator,
    build_prompt,
    extract_json_object,
    generate,
    parse_generation,
    plan_requests,
    read_done_ids,
)
from formwhy.taxonomy import DEFAULT_PRIOR, NAMES
from formwhy.trace import EVENT_TYPES, EXAMPLES_DIR

pytestmark = [
    pytest.mark.timeout(60),
    # the default model must not be one the SDK calls deprecated (claude-sonnet-4-5 was, end of November 2026)
    pytest.mark.filterwarnings("error:The model .* is deprecated:DeprecationWarning"),
]

API_KEY = "sk-test-key"
MODEL = "claude-sonnet-5-5"
OAI_MODEL = "local-model"
SECRET = "secret.person@example.com"  # a "typed value" a bad answer leaks; must never reach a file or a log

EXAMPLES: dict[str, dict[str, Any]] = {
    p.stem.split("-", 1)[1]: json.loads(p.read_text()) for p in sorted(EXAMPLES_DIR.glob("*.json"))
}
FAST = {"base_delay": 0.01, "max_delay": 0.05, "progress": False}


# --- canned answers -------------------------------------------------------------------------------------


def answer_obj(label: str, *, conf: float = 0.85, says: str | None = None) -> dict[str, Any]:
    trace = copy.deepcopy(EXAMPLES[label])
    return {
        "label": says or label,
        "trace": trace,
        "reasoning": f"The events show a typical {label} session ending in exit.",
        "confidence": conf,
    }


def valid_text(label: str) -> str:
    return json.dumps(answer_obj(label))


def fenced_text(label: str) -> str:
    return "Here is the example you asked for.\n\n```json\n" + json.dumps(answer_obj(label), indent=1) + "\n```\n"


def value_key_text(label: str) -> str:
    obj = answer_obj(label)
    events = obj["trace"]["events"]
    ev = next((e for e in events if e["type"] == "input"), None)
    if ev is None:
        events.insert(1, ev := {"t": events[0]["t"], "type": "input", "field": "x", "len": 3})
    ev["value"] = SECRET
    return json.dumps(obj)


def broken_json_text(label: str) -> str:
    text = valid_text(label)
    return text[: len(text) // 2]


def wrong_label_text(label: str) -> str:
    other = next(n for n in NAMES if n != label)
    return json.dumps(answer_obj(label, says=other))


def bad_confidence_text(label: str) -> str:
    return json.dumps(answer_obj(label, conf=1.7))


@dataclass
class Text:
    text: str
    stop: str = "end_turn"


@dataclass
class Err:
    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sleep:
    seconds: float
    then: Text | Err


Reply = Text | Err | Sleep
Behave = Callable[[int, str, int], Reply]  # (request index, requested label, attempt for that id) -> reply


def always_valid(index: int, label: str, attempt: int) -> Reply:
    return Text(valid_text(label))


MIXED_INVALID = {1: "trace_unknown_key", 3: "bad_json", 4: "bad_confidence", 5: "wrong_label"}


def mixed(index: int, label: str, attempt: int) -> Reply:
    """Deterministic per index: some answers valid (one fenced with prose), some invalid on purpose."""
    kind = index % 7
    makers = {1: value_key_text, 3: broken_json_text, 4: bad_confidence_text, 5: wrong_label_text,
              6: fenced_text}
    return Text(makers.get(kind, valid_text)(label))


def expected_mixed(n: int, seed: int = 0) -> tuple[set[str], Counter[str]]:
    ok, bad = set(), Counter()
    for i in range(n):
        if i % 7 in MIXED_INVALID:
            bad[MIXED_INVALID[i % 7]] += 1
        else:
            ok.add(f"llm-{seed}-{i}")
    return ok, bad


# --- the fake servers -----------------------------------------------------------------------------------

_ID_RE = re.compile(r"Request id: (llm-\d+-(\d+))")
_CLASS_RE = re.compile(r"Class: \d ([a-z_]+)")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (timeout, abort) is expected here


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 (ephemeral port); subclasses speak one wire protocol."""

    def __init__(self, behave: Behave = always_valid, *, delay: float = 0.0) -> None:
        self.behave = behave
        self.delay = delay
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.attempts: Counter[str] = Counter()
        self.calls: list[tuple[str, int, float]] = []  # (request id, attempt, monotonic time)
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                outer._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def attempts_of(self, index: int, seed: int = 0) -> list[float]:
        return [t for rid, _a, t in self.calls if rid == f"llm-{seed}-{index}"]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            length = int(h.headers.get("content-length") or 0)
            raw = h.rfile.read(length)
            headers = {k.lower(): v for k, v in h.headers.items()}
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if self.delay:
                time.sleep(self.delay)
            status, extra, payload = self.respond(h.path, headers, body)
        finally:
            with self.lock:
                self.inflight -= 1
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data)))
            for k, v in extra.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def _script(self, prompt: str) -> Reply:
        m = _ID_RE.search(prompt)
        c = _CLASS_RE.search(prompt)
        assert m and c, "the user prompt names the request id and the class"
        rid, index, label = m.group(1), int(m.group(2)), c.group(1)
        with self.lock:
            attempt = self.attempts[rid]
            self.attempts[rid] += 1
            self.calls.append((rid, attempt, time.monotonic()))
        reply = self.behave(index, label, attempt)
        if isinstance(reply, Sleep):
            time.sleep(reply.seconds)
            reply = reply.then
        return reply

    def respond(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError


class AnthropicServer(FakeServer):
    """Speaks the Anthropic Messages API: ``POST /v1/messages`` with ``anthropic-version`` and the key in
    ``x-api-key`` or ``authorization: Bearer``; errors as ``{"type": "error", "error": {...}}``."""

    def __init__(self, behave: Behave = always_valid, *, api_key: str = API_KEY, models: tuple[str, ...] = (MODEL,),
                 delay: float = 0.0) -> None:
        super().__init__(behave, delay=delay)
        self.api_key = api_key
        self.models = models

    @staticmethod
    def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None):
        return status, headers or {}, {"type": "error", "error": {"type": kind, "message": message}}

    def respond(self, path, headers, body):
        if path != "/v1/messages":
            return self.error(404, "not_found_error", f"no route {path}")
        # The API takes the key as x-api-key or as a bearer token (the 2.x SDK sends the bearer form).
        auth = headers.get("authorization", "")
        key = headers.get("x-api-key") or (auth[7:] if auth.startswith("Bearer ") else None)
        if key != self.api_key:
            return self.error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return self.error(400, "invalid_request_error", "anthropic-version header is required")
        if not isinstance(body, dict):
            return self.error(400, "invalid_request_error", "body must be JSON")
        self.bodies.append(body)
        self.headers.append(headers)
        if body.get("model") not in self.models:
            return self.error(404, "not_found_error", f"model: {body.get('model')}")
        msgs = body.get("messages")
        if not isinstance(body.get("max_tokens"), int) or not msgs or msgs[0].get("role") != "user":
            return self.error(400, "invalid_request_error", "max_tokens and a user message are required")
        content = msgs[0]["content"]
        prompt = content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
        reply = self._script(prompt)
        if isinstance(reply, Err):
            return self.error(reply.status, reply.type, reply.message, reply.headers)
        return 200, {"request-id": "req_test"}, {
            "id": "msg_test", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": reply.text}], "stop_reason": reply.stop,
            "stop_sequence": None, "usage": {"input_tokens": 1200, "output_tokens": 900},
        }


class OpenAIServer(FakeServer):
    """Speaks OpenAI chat completions: ``POST /v1/chat/completions`` with an optional bearer key."""

    def __init__(self, behave: Behave = always_valid, *, api_key: str | None = API_KEY,
                 models: tuple[str, ...] = (OAI_MODEL,), delay: float = 0.0) -> None:
        super().__init__(behave, delay=delay)
        self.api_key = api_key
        self.models = models

    @staticmethod
    def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None):
        return status, headers or {}, {"error": {"message": message, "type": kind, "code": None}}

    def respond(self, path, headers, body):
        if path != "/v1/chat/completions":
            return self.error(404, "not_found", f"no route {path}")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error(401, "invalid_api_key", "Incorrect API key provided")
        if not isinstance(body, dict):
            return self.error(400, "invalid_request_error", "body must be JSON")
        self.bodies.append(body)
        if body.get("model") not in self.models:
            return self.error(404, "model_not_found", f"The model `{body.get('model')}` does not exist.")
        for key in ("messages", "temperature", "max_tokens"):
            if key not in body:
                return self.error(400, "invalid_request_error", f"missing {key}")
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["system", "user"]
        reply = self._script(body["messages"][-1]["content"])
        if isinstance(reply, Err):
            return self.error(reply.status, reply.type, reply.message, reply.headers)
        finish = "length" if reply.stop == "max_tokens" else "stop"
        return 200, {}, {
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 900, "total_tokens": 2100},
        }


@contextmanager
def anthropic_server(behave: Behave = always_valid, **kw: Any) -> Iterator[AnthropicServer]:
    with AnthropicServer(behave, **kw) as srv:
        yield srv


def anthropic_gen(srv: FakeServer, **kw: Any) -> AnthropicGenerator:
    kw.setdefault("api_key", API_KEY)
    kw.setdefault("timeout", 10.0)
    return AnthropicGenerator(base_url=srv.url, **kw)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- prompt, planning, parsing (no server) ---------------------------------------------------------------


def test_prompt_has_format_rules_and_classes() -> None:
    """Unit test, no server: the prompt states the event kinds, the privacy rule, the classes and the answer."""
    assert PROMPT_VERSION
    for ev in EVENT_TYPES:
        assert re.search(rf"\b{ev}\b", SYSTEM_PROMPT), ev
    for name in NAMES:
        assert name in SYSTEM_PROMPT
    assert "no typed value is ever recorded" in SYSTEM_PROMPT
    assert '"reasoning"' in SYSTEM_PROMPT and '"confidence"' in SYSTEM_PROMPT
    req = GenerationRequest("llm-3-7", 7, "trust_concern", "checkout", "mobile", "10-25", True, "price_shock")
    system, user = build_prompt(req)
    assert system == SYSTEM_PROMPT
    for s in ("llm-3-7", "trust_concern", "checkout", "mobile", "HARD", "price_shock"):
        assert s in user


def test_plan_is_deterministic_prefix_stable_and_follows_prior() -> None:
    """Unit test, no server: the plan depends only on the seed and the index; classes follow the prior."""
    a = plan_requests(400, seed=5, hard_share=0.25)
    assert a == plan_requests(400, seed=5, hard_share=0.25)
    assert plan_requests(50, seed=5, hard_share=0.25) == a[:50]
    assert a != plan_requests(400, seed=6, hard_share=0.25)
    assert [r.id for r in a[:3]] == ["llm-5-0", "llm-5-1", "llm-5-2"]
    counts = Counter(r.label for r in a)
    for name, p in DEFAULT_PRIOR.items():
        assert abs(counts[name] / 400 - p) < 0.08, (name, counts)
    hard = [r for r in a if r.hard]
    assert 0.15 < len(hard) / 400 < 0.35
    assert all(r.decoy and r.decoy != r.label for r in hard)
    only = plan_requests(30, prior={"account_wall": 1.0}, seed=1, hard_share=0.0)
    assert {r.label for r in only} == {"account_wall"} and not any(r.hard for r in only)
    with pytest.raises(ValueError, match="unknown class"):
        plan_requests(3, prior={"nope": 1.0})


def test_extract_and_parse_answers() -> None:
    """Unit test, no server: fences and leading prose are tolerated; each invalid answer gets its reason."""
    req = plan_requests(1, prior={"price_shock": 1.0}, seed=0)[0]
    assert extract_json_object(fenced_text("price_shock"))["label"] == "price_shock"
    assert extract_json_object("Sure {thing}.\n" + valid_text("price_shock"))["label"] == "price_shock"
    ex = parse_generation(fenced_text("price_shock"), req, source="anthropic", model=MODEL)
    assert ex.id == req.id and ex.label == "price_shock" and ex.trace.session_id == req.id
    assert ex.extra["source"] == "anthropic" and ex.extra["prompt_version"] == PROMPT_VERSION
    cases = {
        "": "empty", "no json here": "no_json", broken_json_text("price_shock"): "bad_json",
        value_key_text("price_shock"): "trace_unknown_key", wrong_label_text("price_shock"): "wrong_label",
        bad_confidence_text("price_shock"): "bad_confidence",
        json.dumps({"label": "price_shock", "reasoning": "x", "confidence": 0.5}): "missing_trace",
        json.dumps({**answer_obj("price_shock"), "reasoning": "  "}): "bad_reasoning",
        json.dumps({**answer_obj("price_shock"), "confidence": True}): "bad_confidence",
    }
    for text, reason in cases.items():
        with pytest.raises(InvalidOutputError) as info:
            parse_generation(text, req)
        assert info.value.reason == reason
        assert SECRET not in str(info.value)


# --- the Anthropic client against a local Messages API server --------------------------------------------


def test_anthropic_writes_valid_and_counts_invalid(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    valid examples are written and validate; invalid answers are counted by reason and never written."""
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out.jsonl"
    n = 21
    with anthropic_server(mixed) as srv:
        gen = anthropic_gen(srv)
        assert isinstance(gen, Generator)
        report = generate(n, out, gen, seed=0, concurrency=4, **FAST)
    ok, bad = expected_mixed(n)
    assert report.requested == n and report.written == len(ok) and report.failed == 0
    assert report.invalid == dict(bad)
    assert report.skipped_existing == 0 and report.retries == 0
    docs = lines_of(out)
    assert {d["id"] for d in docs} == ok and len(docs) == len(ok)
    plan = {r.id: r for r in plan_requests(n, seed=0)}
    for d in docs:
        ex = example_from_json(d, "test")
        assert ex.label == plan[d["id"]].label
        assert set(d) >= {"id", "label", "trace", "reasoning", "confidence", "source", "model"}
        assert d["source"] == "anthropic" and d["model"] == MODEL and 0 <= d["confidence"] <= 1
        assert d["trace"]["session_id"] == d["id"]
    assert len(list(iter_examples(out))) == len(ok)
    assert SECRET not in out.read_text() and SECRET not in caplog.text
    # the wire: model, system prompt, headers
    body = srv.bodies[0]
    assert body["model"] == MODEL and body["system"] == SYSTEM_PROMPT and "temperature" not in body
    hdr = srv.headers[0]
    assert API_KEY in (hdr.get("x-api-key"), hdr.get("authorization", "").removeprefix("Bearer "))
    assert hdr["anthropic-version"]


def retry_script(index: int, label: str, attempt: int) -> Reply:
    if index == 0 and attempt == 0:
        return Err(529, "overloaded_error", "Overloaded")
    if index == 1 and attempt < 2:
        return Err(500, "api_error", "Internal server error")
    if index == 2 and attempt == 0:
        return Err(429, "rate_limit_error", "Too many requests", {"retry-after": "0.3"})
    if index == 3 and attempt == 0:
        return Sleep(4.0, Text(valid_text(label)))  # longer than the client's timeout
    return Text(valid_text(label))


def test_anthropic_retries_529_500_429_and_timeouts(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    529, 500, 429 (retry-after honoured) and a timeout are retried and then succeed."""
    out = tmp_path / "out.jsonl"
    with anthropic_server(retry_script) as srv:
        # a 1.5 s timeout: an ordinary reply on a loaded 2-core machine must not time out too (it did at 0.5 s)
        report = generate(6, out, anthropic_gen(srv, timeout=1.5), concurrency=3, max_retries=3, **FAST)
    assert report.written == 6 and report.failed == 0 and report.invalid == {}
    assert report.retries == 5
    assert srv.attempts["llm-0-0"] == 2 and srv.attempts["llm-0-1"] == 3
    assert srv.attempts["llm-0-2"] == 2 and srv.attempts["llm-0-3"] == 2
    t429 = srv.attempts_of(2)
    assert t429[1] - t429[0] >= 0.28  # retry-after: 0.3 honoured although base_delay is 0.01
    assert {d["id"] for d in lines_of(out)} == {f"llm-0-{i}" for i in range(6)}


def test_anthropic_retries_exhausted_counts_failed(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    a request that keeps failing with 500 is tried 1 + max_retries times, counted failed, and the run goes on."""
    out = tmp_path / "out.jsonl"

    def script(index: int, label: str, attempt: int) -> Reply:
        return Err(500, "api_error", "boom " * 100) if index == 0 else Text(valid_text(label))

    with anthropic_server(script) as srv:
        report = generate(4, out, anthropic_gen(srv), concurrency=2, max_retries=2, **FAST)
    assert srv.attempts["llm-0-0"] == 3
    assert report.failed == 1 and report.failed_by_reason == {"server_error": 1}
    assert report.written == 3 and report.retries == 2
    assert report.errors and "500" in report.errors[0] and len(report.errors[0]) <= 200
    assert "llm-0-0" not in {d["id"] for d in lines_of(out)}


def test_anthropic_persistent_failures_stop_the_run(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    a 400 is not retried; when every request fails for good the run stops after FAIL_STREAK_ABORT of them."""

    def script(index: int, label: str, attempt: int) -> Reply:
        return Err(400, "invalid_request_error", "temperature: not supported for this model")

    with anthropic_server(script) as srv:
        with pytest.raises(GenerationAborted, match=r"in a row failed.*400.*temperature") as info:
            generate(40, tmp_path / "o.jsonl", anthropic_gen(srv), concurrency=2, **FAST)
    rep = info.value.report
    assert rep.retries == 0 and rep.failed_by_reason == {"http_400": rep.failed}
    assert FAIL_STREAK_ABORT <= rep.failed <= FAIL_STREAK_ABORT + 2 and len(srv.calls) < 40


@pytest.mark.parametrize("status", [401, 403])
def test_anthropic_auth_errors_fail_fast(tmp_path: Path, status: int) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    401 (a wrong x-api-key) and 403 stop the run at once, without retries, naming ANTHROPIC_API_KEY."""
    out = tmp_path / "out.jsonl"

    def forbidden(index: int, label: str, attempt: int) -> Reply:
        return Err(403, "permission_error", "Your key does not have access to this model")

    kw = {"api_key": "sk-wrong"} if status == 401 else {}
    start = time.monotonic()
    with anthropic_server(forbidden, delay=0.02) as srv:
        with pytest.raises(GenerationAborted) as info:
            generate(20, out, anthropic_gen(srv, **kw), concurrency=4, max_retries=4, base_delay=1.0,
                     progress=False)
    assert time.monotonic() - start < 3.0
    msg = str(info.value)
    assert str(status) in msg and "ANTHROPIC_API_KEY" in msg
    assert info.value.report.retries == 0 and info.value.report.written == 0
    assert info.value.report.aborted
    if status == 403:
        assert len(srv.calls) <= 4 and all(a == 0 for _rid, a, _t in srv.calls)
    assert not out.exists() or out.read_text() == ""


def test_anthropic_unknown_model_is_clear(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    404 for an unknown model stops the run with a message naming the model."""
    with anthropic_server() as srv:
        with pytest.raises(GenerationAborted, match=r"claude-nope.*404"):
            generate(5, tmp_path / "o.jsonl", anthropic_gen(srv, model="claude-nope"), **FAST)
        assert len(srv.bodies) <= 4


def test_anthropic_key_and_base_url_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    the key comes from ANTHROPIC_API_KEY and the base URL from ANTHROPIC_BASE_URL; no key is a clear error."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(GeneratorConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicGenerator()
    with anthropic_server() as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        gen = AnthropicGenerator(timeout=10, temperature=0.7, max_tokens=5000)
        assert gen.base_url == srv.url and gen.model == "claude-sonnet-5-5"
        report = generate(3, tmp_path / "o.jsonl", gen, **FAST)
    assert report.written == 3
    assert srv.bodies[0]["temperature"] == 0.7 and srv.bodies[0]["max_tokens"] == 5000


def test_unreachable_server_is_clear(tmp_path: Path) -> None:
    """Real anthropic SDK and httpx clients against a local port where no server listens (connection refused):
    the run stops after the retries with a message that names the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    gens = [AnthropicGenerator(api_key=API_KEY, base_url=url, timeout=2),
            OpenAICompatibleGenerator(OAI_MODEL, base_url=url + "/v1", timeout=2)]
    for gen in gens:
        with pytest.raises(GenerationAborted) as info:
            generate(3, tmp_path / "o.jsonl", gen, max_retries=2, **FAST)
        assert "cannot reach" in str(info.value) and url in str(info.value)
        assert info.value.report.retries >= 2


def test_concurrency_bound_respected(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    the server tracks requests in flight; never more than `concurrency` at once (and more than one)."""
    with anthropic_server(delay=0.1) as srv:
        report = generate(12, tmp_path / "o.jsonl", anthropic_gen(srv), concurrency=3, **FAST)
    assert report.written == 12
    assert srv.max_inflight == 3


def test_resume_after_crash_matches_uninterrupted_run(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    a run that dies halfway (the server starts answering 401) is resumed; done ids are skipped, and the final
    file holds the same ids as an uninterrupted run."""
    n = 18
    full = tmp_path / "full.jsonl"
    with anthropic_server(mixed) as srv:
        generate(n, full, anthropic_gen(srv), concurrency=3, **FAST)
    ok, _bad = expected_mixed(n)
    assert {d["id"] for d in lines_of(full)} == ok

    served = 0
    lock = threading.Lock()

    def dies_after_6(index: int, label: str, attempt: int) -> Reply:
        nonlocal served
        with lock:
            served += 1
            if served > 6:
                return Err(401, "authentication_error", "invalid x-api-key")
        return mixed(index, label, attempt)

    out = tmp_path / "resumed.jsonl"
    with anthropic_server(dies_after_6) as srv:
        with pytest.raises(GenerationAborted):
            generate(n, out, anthropic_gen(srv), concurrency=3, **FAST)
    first = {d["id"] for d in lines_of(out)}
    assert 0 < len(first) < len(ok)

    with anthropic_server(mixed) as srv:
        report = generate(n, out, anthropic_gen(srv), concurrency=3, **FAST)
        asked = set(srv.attempts)
    assert report.skipped_existing == len(first)
    assert not (asked & first)  # done ids are not asked again
    ids = [d["id"] for d in lines_of(out)]
    assert len(ids) == len(set(ids)) and set(ids) == ok


def test_truncated_last_line_is_repaired(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    a last line cut short by a crash is dropped, the file rewritten cleanly, and that example generated again."""
    out = tmp_path / "o.jsonl"
    with anthropic_server() as srv:
        gen = anthropic_gen(srv)
        generate(6, out, gen, **FAST)
        lines = out.read_text().splitlines()
        last_id = json.loads(lines[-1])["id"]
        out.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
        report = generate(6, out, gen, progress=True, base_delay=0.01)  # same generator, a second event loop
    assert report.repaired and report.skipped_existing == 5 and report.written == 1
    assert srv.attempts[last_id] == 2
    text = out.read_text()
    assert text.endswith("\n")
    ids = [json.loads(line)["id"] for line in text.splitlines()]
    assert sorted(ids) == sorted(f"llm-0-{i}" for i in range(6))


def test_progress_in_a_log_file_is_plain_lines_with_the_counts(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol: with stderr
    not a terminal (a log file, CI), generation still reports progress, as a plain line with the running counts."""
    with anthropic_server() as srv:
        report = generate(4, tmp_path / "o.jsonl", anthropic_gen(srv), progress=True, base_delay=0.01)
    assert report.written == 4
    err = capsys.readouterr().err
    assert "generating 4 examples: 4/4 (100 %)" in err and "done 4 · invalid 0 · failed 0" in err


def test_resume_refuses_a_corrupt_middle_line(tmp_path: Path) -> None:
    """Unit test, no server: only a truncated LAST line is repaired; a bad line elsewhere is an error."""
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "a"}\n{"id": \n{"id": "c"}\n')
    with pytest.raises(DatasetError, match=":2:"):
        read_done_ids(out)
    out.write_text('{"id": "a"}\n{"id": "b"}')  # valid but unterminated: kept, newline added
    assert read_done_ids(out) == ({"a", "b"}, True)
    assert out.read_text() == '{"id": "a"}\n{"id": "b"}\n'


def test_truncated_output_counts_invalid(tmp_path: Path) -> None:
    """Real anthropic SDK client against a local server speaking the Anthropic Messages wire protocol:
    an answer that stopped at max_tokens is counted invalid ("truncated") and not written."""

    def script(index: int, label: str, attempt: int) -> Reply:
        return Text(broken_json_text(label), stop="max_tokens") if index == 1 else Text(valid_text(label))

    out = tmp_path / "o.jsonl"
    with anthropic_server(script) as srv:
        report = generate(3, out, anthropic_gen(srv), **FAST)
    assert report.invalid == {"truncated": 1} and report.written == 2


# --- the OpenAI-compatible client against a local chat-completions server ---------------------------------


def oai_script(index: int, label: str, attempt: int) -> Reply:
    if index == 0 and attempt == 0:
        return Err(503, "server_error", "The server is overloaded")
    if index == 1 and attempt == 0:
        return Err(429, "rate_limit_exceeded", "Rate limit reached", {"retry-after": "0.2"})
    return mixed(index, label, attempt)


def test_openai_compatible_generates_retries_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real httpx client against a local server speaking the OpenAI chat-completions wire protocol:
    bearer key from OPENAI_API_KEY, 503 and 429 retried, invalid answers counted and dropped."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    out = tmp_path / "o.jsonl"
    n = 14
    with OpenAIServer(oai_script) as srv:
        gen = OpenAICompatibleGenerator(OAI_MODEL, base_url=srv.url + "/v1", timeout=10)
        report = generate(n, out, gen, concurrency=3, max_retries=3, **FAST)
    ok, bad = expected_mixed(n)
    assert report.retries == 2 and report.failed == 0
    assert report.invalid == dict(bad) and report.written == len(ok)
    assert srv.attempts["llm-0-0"] == 2 and srv.attempts["llm-0-1"] == 2
    t = srv.attempts_of(1)
    assert t[1] - t[0] >= 0.18
    docs = lines_of(out)
    assert {d["id"] for d in docs} == ok
    assert all(d["source"] == "openai" and d["model"] == OAI_MODEL for d in docs)
    for d in docs:
        example_from_json(d, "test")
    body = srv.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert body["max_tokens"] > 0 and body["temperature"] == 1.0


def test_openai_compatible_without_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real httpx client against a local server speaking the OpenAI chat-completions wire protocol:
    a local server that needs no key works without OPENAI_API_KEY."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(GeneratorConfigError, match="OPENAI_API_KEY"):
        OpenAICompatibleGenerator(OAI_MODEL)  # the default base URL is api.openai.com, which needs a key
    with OpenAIServer(api_key=None) as srv:
        report = generate(3, tmp_path / "o.jsonl", OpenAICompatibleGenerator(OAI_MODEL, base_url=srv.url + "/v1"),
                          **FAST)
    assert report.written == 3


def test_openai_compatible_401_and_404_fail_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real httpx client against a local server speaking the OpenAI chat-completions wire protocol:
    a wrong bearer key (401) and an unknown model (404) stop the run at once with clear messages."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with OpenAIServer() as srv:
        with pytest.raises(GenerationAborted, match=r"401.*OPENAI_API_KEY") as info:
            generate(8, tmp_path / "a.jsonl", OpenAICompatibleGenerator(OAI_MODEL, base_url=srv.url + "/v1"),
                     max_retries=4, base_delay=1.0, progress=False)
        assert info.value.report.retries == 0
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        with pytest.raises(GenerationAborted, match=r"gpt-nope.*404") as info:
            generate(8, tmp_path / "b.jsonl", OpenAICompatibleGenerator("gpt-nope", base_url=srv.url + "/v1"),
                     max_retries=4, base_delay=1.0, progress=False)
        assert "does not exist" in str(info.value)
        assert len(srv.bodies) <= 4  # one per worker at most, no retries



def test_cli_data_build_with_source_anthropic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`formwhy data build --source anthropic`: the real anthropic SDK client against a local server speaking the
    Anthropic Messages wire protocol; invalid answers are counted and dropped, the rest is deduplicated and split."""
    from typer.testing import CliRunner

    from formwhy.cli import app

    out = tmp_path / "ds"
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    with anthropic_server(mixed) as srv:
        res = CliRunner().invoke(app, ["data", "build", "--source", "anthropic", "--base-url", srv.url, "--n", "60",
                                       "--n-val", "8", "--n-test", "8", "--out", str(out), "--concurrency", "4"])
    assert res.exit_code == 0, res.output
    ok, bad = expected_mixed(60)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "anthropic" and summary["invalid"] == sum(bad.values())
    assert summary["kept"] + summary["duplicates"] == len(ok) == len(lines_of(out / "raw-anthropic.jsonl"))
    assert sum(summary["splits"].values()) == summary["kept"]
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    res = CliRunner().invoke(app, ["data", "build", "--source", "anthropic", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "ANTHROPIC_API_KEY" in res.output
