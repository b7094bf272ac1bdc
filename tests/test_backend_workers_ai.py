"""The Workers AI backend against a local server speaking Cloudflare's REST protocol."""

from __future__ import annotations

import numpy as np
import pytest
from http_replay import ReplayServer

from formwhy.backends import BackendError, load_backend
from formwhy.backends.workers_ai import DEFAULT_MODEL, WorkersAI, verbalized_probs
from formwhy.llm.prompt import build_prompt
from formwhy.trace import example_traces

PATH = f"/client/v4/accounts/acc123/ai/run/{DEFAULT_MODEL}"
ANSWER = '3\n{"class": "trust_concern", "reasoning": "Stared at the card field, typed then deleted.", ' \
         '"confidence": 0.7}'


def ok(text: str) -> dict:
    return {"result": {"response": text, "usage": {"prompt_tokens": 230, "completion_tokens": 31}},
            "success": True, "errors": [], "messages": []}


@pytest.fixture()
def server():  # noqa: ANN201
    s = ReplayServer()
    yield s
    s.close()


@pytest.fixture()
def backend(server, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok-xyz")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc123")
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", server.url + "/client/v4")
    monkeypatch.setenv("FORMWHY_WORKERS_AI_LORA", "formwhy-r8")
    return load_backend("workers-ai", None)


def test_request_and_verbalized_probs(server, backend) -> None:  # noqa: ANN001
    trace = example_traces()["trust_concern"]
    server.push(PATH, 200, ok(ANSWER))
    (pred,) = backend.predict([trace], reasoning=True)
    method, path, body, headers = server.requests[0]
    assert (method, path) == ("POST", PATH)
    assert body["prompt"] == build_prompt(trace) and body["raw"] is True and body["lora"] == "formwhy-r8"
    assert headers["Authorization"] == "Bearer tok-xyz"
    np.testing.assert_allclose(pred.probs, [0.06, 0.06, 0.7, 0.06, 0.06, 0.06])
    assert pred.verbalized == 0.7 and pred.verbalized_label == "trust_concern"
    assert pred.extra["verbalized_only"] is True and pred.reasoning.startswith("Stared")


def test_low_confidence_is_raised_to_keep_the_answer_on_top() -> None:
    probs, raised = verbalized_probs(2, 0.05)
    assert raised and probs[1] == pytest.approx(probs.max()) and probs.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(probs, 1 / 6)


def test_unparsable_answer_is_uniform_and_flagged(server, backend) -> None:  # noqa: ANN001
    server.push(PATH, 200, ok("I think the visitor left because"))
    (pred,) = backend.predict([example_traces()["distraction"]])
    np.testing.assert_allclose(pred.probs, 1 / 6)
    assert pred.extra["answer_error"] == "no_digit"


def test_unknown_finetune(server, backend) -> None:  # noqa: ANN001
    server.push(PATH, 400, {"result": None, "success": False, "messages": [],
                            "errors": [{"code": 3037, "message": "AiError: Finetune not found"}]})
    with pytest.raises(BackendError, match=r"does not know the fine-tune 'formwhy-r8'.*3037.*wrangler ai finetune"):
        backend.predict([example_traces()["distraction"]])


def test_auth_error(server, backend) -> None:  # noqa: ANN001
    server.push(PATH, 401, {"result": None, "success": False, "messages": [],
                            "errors": [{"code": 10000, "message": "Authentication error"}]})
    with pytest.raises(BackendError, match="not authorised.*CLOUDFLARE_API_TOKEN"):
        backend.predict([example_traces()["distraction"]])


def test_retry_then_success_and_wrong_shape(server, backend) -> None:  # noqa: ANN001
    backend.backoff = 0.001
    server.push(PATH, 503, "upstream unavailable")
    server.push(PATH, 200, ok(ANSWER))
    server.push(PATH, 200, {"result": {"text": "x"}, "success": True, "errors": []})
    trace = example_traces()["trust_concern"]
    assert backend.predict([trace])[0].probs.argmax() == 2
    with pytest.raises(BackendError, match="wrong shape"):
        backend.predict([trace])


def test_missing_credentials(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    with pytest.raises(BackendError, match="set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID"):
        WorkersAI.from_env()
