"""The OpenAI-compatible backend against a local server replaying recorded vLLM and llama.cpp answer shapes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from http_replay import ReplayServer

from formwhy.backends import BackendError, load_backend
from formwhy.backends.openai_compat import FLOOR_LOGPROB, OpenAICompat
from formwhy.llm.prompt import build_prompt
from formwhy.trace import example_traces

GEMMA_DIGITS = [236770, 236778, 236800, 236812, 236810, 236825]  # '1'..'6' in Gemma 3's vocabulary


def vllm_completion(top: dict[str, float], text: str = "1", sampled: str | None = None) -> dict:
    """The shape vLLM's /v1/completions returns with logprobs=k (and return_tokens_as_token_ids)."""
    sampled = sampled or next(iter(top))
    return {"id": "cmpl-8d3c", "object": "text_completion", "created": 1764000000, "model": "formwhy",
            "choices": [{"index": 0, "text": text,
                         "logprobs": {"text_offset": [0], "token_logprobs": [top.get(sampled, -1.0)],
                                      "tokens": [sampled], "top_logprobs": [top]},
                         "finish_reason": "length", "stop_reason": None, "prompt_logprobs": None}],
            "usage": {"prompt_tokens": 212, "total_tokens": 213, "completion_tokens": 1,
                      "prompt_tokens_details": None}, "kv_transfer_params": None}


def llamacpp_completion(top: dict[str, float], text: str) -> dict:
    """The shape llama-cpp-python's server returns (text tokens, one dict of top logprobs per position)."""
    return {"id": "cmpl-1f0e", "object": "text_completion", "created": 1764000000, "model": "gemma.gguf",
            "choices": [{"text": text, "index": 0,
                         "logprobs": {"tokens": [text[:1]], "text_offset": [1000],
                                      "token_logprobs": [top.get(text[:1], -1.0)], "top_logprobs": [top]},
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": 212, "completion_tokens": 1, "total_tokens": 213}}


def ids_top(lps: list[float], others: dict[int, float] | None = None) -> dict[str, float]:
    top = {f"token_id:{t}": lp for t, lp in zip(GEMMA_DIGITS, lps, strict=True) if lp is not None}
    top.update({f"token_id:{t}": lp for t, lp in (others or {}).items()})
    return top


@pytest.fixture()
def server():  # noqa: ANN201
    s = ReplayServer()
    yield s
    s.close()


@pytest.fixture(scope="module")
def trace():  # noqa: ANN201
    return example_traces()["price_shock"]


def backend(server: ReplayServer, **kw) -> OpenAICompat:  # noqa: ANN003
    kw.setdefault("digit_ids", GEMMA_DIGITS)
    return OpenAICompat(server.url + "/v1", "formwhy", backoff=0.001, concurrency=1, **kw)


def test_request_carries_the_prompt_and_the_digit_ids(server, trace) -> None:  # noqa: ANN001
    server.push("/v1/completions", 200, vllm_completion(ids_top([-0.2, -2.5, -3.0, -4.0, -5.0, -6.0])))
    backend(server).predict([trace])
    method, path, body, _ = server.requests[0]
    assert (method, path) == ("POST", "/v1/completions")
    assert body["prompt"] == build_prompt(trace)
    assert body["model"] == "formwhy" and body["max_tokens"] == 1 and body["logprobs"] == 20
    assert body["return_tokens_as_token_ids"] is True and body["allowed_token_ids"] == GEMMA_DIGITS


def test_renormalises_over_the_digits_and_reports_the_outside_mass(server, trace) -> None:  # noqa: ANN001
    lps = [-0.5, -2.0, -3.0, -3.5, -4.0, -5.0]
    server.push("/v1/completions", 200, vllm_completion(ids_top(lps, {107: -1.6, 236764: -2.2})))
    (pred,) = backend(server).predict([trace])
    expect = np.exp(lps) / np.exp(lps).sum()
    np.testing.assert_allclose(pred.probs, expect, rtol=1e-9)
    assert pred.extra["outside_mass"] == pytest.approx(1 - np.exp(lps).sum())
    assert "floored_digits" not in pred.extra
    np.testing.assert_allclose(pred.logits, lps)


def test_a_digit_missing_from_the_top_k_gets_the_floor(server, trace) -> None:  # noqa: ANN001
    # a recorded top-20 where digits 5 and 6 are not among the 20 most likely tokens
    others = {1000 + i: -3.0 - 0.1 * i for i in range(16)}
    server.push("/v1/completions", 200, vllm_completion(ids_top([-0.3, -1.9, -2.4, -2.8, None, None], others)))
    (pred,) = backend(server).predict([trace])
    assert pred.extra["floored_digits"] == [5, 6]
    floor = min(others.values())
    assert pred.logits[4] == pred.logits[5] == pytest.approx(floor)
    assert pred.probs.sum() == pytest.approx(1.0) and pred.probs.argmax() == 0


def test_empty_top_list_uses_the_documented_floor(server, trace) -> None:  # noqa: ANN001
    data = vllm_completion({"token_id:236770": -0.1})
    data["choices"][0]["logprobs"]["top_logprobs"] = [{}]
    data["choices"][0]["logprobs"]["tokens"] = ["token_id:107"]
    data["choices"][0]["logprobs"]["token_logprobs"] = [None]
    server.push("/v1/completions", 200, data)
    (pred,) = backend(server).predict([trace])
    assert pred.extra["floored_digits"] == [1, 2, 3, 4, 5, 6]
    assert np.all(pred.logits == FLOOR_LOGPROB)
    np.testing.assert_allclose(pred.probs, 1 / 6)


def test_llamacpp_text_tokens(server, trace) -> None:  # noqa: ANN001
    top = {"1": np.float32(-0.7).item(), "2": -1.2, "3": -2.0, "Answer": -2.5, "4": -3.0, "6": -3.1,
           "\n": -3.3, "5": -3.4, " 1": -0.9}
    server.push("/v1/completions", 200, llamacpp_completion(top, "1"))
    (pred,) = backend(server, digit_ids=None, flavor="llamacpp", top_k=50).predict([trace])
    body = server.requests[0][2]
    assert "allowed_token_ids" not in body and "return_tokens_as_token_ids" not in body and body["logprobs"] == 50
    lps = np.array([-0.7, -1.2, -2.0, -3.0, -3.4, -3.1])
    np.testing.assert_allclose(pred.probs, np.exp(lps) / np.exp(lps).sum(), rtol=1e-6)  # " 1" is not the digit


def test_llamacpp_ids_known_but_text_answered(server, trace) -> None:  # noqa: ANN001
    """llama.cpp ignores return_tokens_as_token_ids: text keys still match."""
    top = {"1": -0.5, "2": -1.5, "3": -2.5, "4": -3.5, "5": -4.5, "6": -5.5}
    server.push("/v1/completions", 200, llamacpp_completion(top, "1"))
    (pred,) = backend(server, flavor="llamacpp").predict([trace])
    assert "allowed_token_ids" not in server.requests[0][2]
    assert pred.probs.argmax() == 0 and "floored_digits" not in pred.extra


def test_reasoning_generates_and_parses_the_json(server, trace) -> None:  # noqa: ANN001
    text = '1\n{"class": "price_shock", "reasoning": "Left after shipping appeared.", "confidence": 0.8}'
    server.push("/v1/completions", 200, vllm_completion(ids_top([-0.2, -2, -3, -4, -5, -6]), text=text))
    (pred,) = backend(server, max_new_tokens=80).predict([trace], reasoning=True)
    body = server.requests[0][2]
    assert body["max_tokens"] == 80 and "allowed_token_ids" not in body  # a digit mask would stop the JSON
    assert pred.verbalized == 0.8 and pred.verbalized_label == "price_shock"
    assert pred.reasoning == "Left after shipping appeared."


def test_reasoning_that_does_not_parse_is_flagged(server, trace) -> None:  # noqa: ANN001
    server.push("/v1/completions", 200, vllm_completion(ids_top([-0.2, -2, -3, -4, -5, -6]), text="1\nnope"))
    (pred,) = backend(server).predict([trace], reasoning=True)
    assert pred.extra["answer_error"] == "no_json" and pred.verbalized is None


def test_500_then_success_is_retried(server, trace) -> None:  # noqa: ANN001
    server.push("/v1/completions", 500, {"object": "error", "message": "EngineCore died", "type": "InternalServerError",
                                         "code": 500})
    server.push("/v1/completions", 429, {"error": {"message": "rate limited"}})
    server.push("/v1/completions", 200, vllm_completion(ids_top([-0.2, -2, -3, -4, -5, -6])))
    (pred,) = backend(server).predict([trace])
    assert len(server.requests) == 3 and pred.probs.argmax() == 0


def test_persistent_5xx_gives_up_with_the_message(server, trace) -> None:  # noqa: ANN001
    server.default("/v1/completions", 503, {"object": "error", "message": "overloaded", "code": 503})
    with pytest.raises(BackendError, match=r"gave up after 3 attempts.*503.*overloaded"):
        backend(server, retries=2).predict([trace])


def test_model_not_found(server, trace) -> None:  # noqa: ANN001
    server.push("/v1/completions", 404, {"object": "error", "message": "The model `x` does not exist.",
                                         "type": "NotFoundError", "param": None, "code": 404})
    server.push("/v1/models", 200, {"object": "list", "data": [{"id": "google/gemma-3-270m", "object": "model"},
                                                               {"id": "formwhy", "object": "model"}]})
    with pytest.raises(BackendError, match=r"does not serve model 'formwhy'.*does not exist.*'formwhy'.*"
                                           r"--model-name") as exc:
        backend(server).predict([trace])
    assert "google/gemma-3-270m" in str(exc.value)
    assert len([r for r in server.requests if r[1] == "/v1/completions"]) == 1  # a 404 is not retried


def test_unreachable_server(trace) -> None:  # noqa: ANN001
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    be = OpenAICompat(f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.001)
    with pytest.raises(BackendError, match=r"openai: gave up after 2 attempts: cannot reach .*server running"):
        be.predict([trace])


@pytest.mark.parametrize("body", ["<html>Bad gateway</html>", {"choices": []}, {"choices": [{"text": "1"}]},
                                  {"choices": [{"logprobs": {"top_logprobs": ["x"]}}]}, [1, 2]])
def test_malformed_answers(server, trace, body) -> None:  # noqa: ANN001
    server.push("/v1/completions", 200, body)
    with pytest.raises(BackendError, match="wrong shape"):
        backend(server).predict([trace])


def test_other_client_errors_are_named(server, trace) -> None:  # noqa: ANN001
    server.push("/v1/completions", 400, {"object": "error", "message": "logprobs: must be <= 20",
                                         "type": "BadRequestError", "code": 400})
    with pytest.raises(BackendError, match="HTTP 400: logprobs: must be <= 20"):
        backend(server, top_k=50).predict([trace])


def test_batch_with_concurrency_keeps_order(server) -> None:  # noqa: ANN001
    traces = list(example_traces().values())
    server.default("/v1/completions", 200, vllm_completion(ids_top([-0.2, -2, -3, -4, -5, -6])))
    preds = OpenAICompat(server.url + "/v1", digit_ids=GEMMA_DIGITS, concurrency=3).predict(traces)
    assert len(preds) == 6
    prompts = sorted(r[2]["prompt"] for r in server.requests)
    assert prompts == sorted(build_prompt(t) for t in traces)


def test_registry_loader_reads_env_and_manifest(server, trace, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from formwhy.llm.prompt import PROMPT_VERSION

    (tmp_path / "formwhy.json").write_text(json.dumps({"base_model": "gemma3-270m", "prompt_version": PROMPT_VERSION,
                                                       "digit_token_ids": GEMMA_DIGITS, "max_event_lines": 48}))
    monkeypatch.setenv("FORMWHY_OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("FORMWHY_OPENAI_MODEL", "ft")
    be = load_backend("openai", tmp_path)
    assert be.digit_ids == GEMMA_DIGITS and be.model == "ft" and be.model_id == f"ft @ {server.url}/v1"
    monkeypatch.delenv("FORMWHY_OPENAI_BASE_URL")
    with pytest.raises(BackendError, match="--base-url"):
        load_backend("openai", tmp_path)


def test_cli_evaluate_classify_with_base_url(server, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    monkeypatch.setenv("FORMWHY_OPENAI_BASE_URL", "restored-after-the-test")  # the CLI sets these two
    monkeypatch.setenv("FORMWHY_OPENAI_MODEL", "restored-after-the-test")

    from formwhy.cli import app
    from formwhy.trace import EXAMPLES_DIR

    server.default("/v1/completions", 200, llamacpp_completion(
        {"1": -0.4, "2": -1.8, "3": -2.2, "4": -2.9, "5": -3.3, "6": -3.9}, "1"))
    res = CliRunner().invoke(app, ["classify", str(EXAMPLES_DIR / "1-price_shock.json"), "--backend", "openai",
                                   "--model", str(tmp_path), "--base-url", server.url + "/v1",
                                   "--model-name", "gemma", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.output.strip().splitlines()[-1])
    assert row["class"] == "price_shock" and row["backend"] == "openai" and not math.isnan(row["probability"])
    assert server.requests[-1][2]["model"] == "gemma"
