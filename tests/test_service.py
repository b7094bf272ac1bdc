"""The HTTP service: auth, limits, validation errors, batch, metrics, healthz, and the routing policy with fake
backends that are slow or broken on purpose."""

from __future__ import annotations

import json
import logging

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from _service_fakes import CONFIDENT, LLM_SURE, UNSURE, FakeBackend, example  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from formwhy.service import BackendConfig, RoutingPolicy, ServiceConfig, create_app, load_config  # noqa: E402
from formwhy.taxonomy import NAMES  # noqa: E402
from formwhy.trace import parse_trace  # noqa: E402

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


def fake_config(**kw) -> ServiceConfig:  # noqa: ANN003
    backends = kw.pop("backends", [BackendConfig(name="fast", timeout_s=0.5),
                                   BackendConfig(name="slow_llm", timeout_s=0.5)])
    return ServiceConfig(api_key=KEY, backends=backends, **kw)


def client_for(config: ServiceConfig, **backends) -> TestClient:  # noqa: ANN003
    return TestClient(create_app(config, backends=backends))


# --- the real features backend ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(features_model_dir):
    cfg = ServiceConfig(api_key=KEY, backends=[BackendConfig(name="features", model=str(features_model_dir)),
                                               BackendConfig(name="llm", timeout_s=15, min_budget_ms=1500)])
    with TestClient(create_app(cfg)) as c:
        yield c


def test_classify_real_features(real):
    r = real.post("/v1/classify", json=example("1-price_shock"), headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["class"] == "price_shock" and body["digit"] == 1
    assert set(body["probabilities"]) == set(NAMES)
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-3
    assert body["confidence"] == max(body["probabilities"].values())
    assert body["calibrated"] is True and body["prediction_set"][0] == "price_shock"
    assert body["recovery_flow"] == "discount" and body["backend"] == "features"
    assert body["abstained"] is False and body["latency_ms"] > 0
    assert "reasoning" not in body
    r2 = real.post("/v1/classify?reasoning=true", json=example("1-price_shock"), headers=AUTH)
    assert r2.json()["reasoning"]
    r3 = real.post("/v1/classify", json={"trace": example("5-technical_error"), "reasoning": True}, headers=AUTH)
    assert r3.status_code == 200 and r3.json()["reasoning"] and r3.json()["class"] == "technical_error"


def test_healthz_reports_missing_llm_as_unavailable(real):
    r = real.get("/healthz")
    assert r.status_code == 200
    backends = {b["name"]: b for b in r.json()["backends"]}
    assert backends["features"]["available"] is True
    if not backends["llm"]["available"]:
        assert "adapter" in backends["llm"]["error"] or backends["llm"]["error"]


@pytest.mark.parametrize("headers,status", [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 401),
    ({"Authorization": f"Basic {KEY}"}, 401),
    ({"Authorization": "Bearer a.b"}, 401),
    (AUTH, 200),
])
def test_auth(real, headers, status):
    r = real.post("/v1/classify", json=example(), headers=headers)
    assert r.status_code == status
    r = real.post("/v1/classify/batch", json={"traces": [example()]}, headers=headers)
    assert r.status_code == status


def test_auth_disabled_and_required():
    with pytest.raises(ValueError, match="API key"):
        create_app(ServiceConfig(backends=[BackendConfig(name="fast")]))
    cfg = ServiceConfig(auth_disabled=True, backends=[BackendConfig(name="fast")])
    with client_for(cfg, fast=FakeBackend("fast", CONFIDENT)) as c:
        assert c.post("/v1/classify", json=example()).status_code == 200
        assert c.get("/healthz").json()["auth"] == "disabled"


def test_auth_disabled_is_logged_loudly(caplog):
    cfg = ServiceConfig(auth_disabled=True, backends=[BackendConfig(name="fast")])
    with caplog.at_level(logging.WARNING, logger="formwhy.service"):
        with client_for(cfg, fast=FakeBackend("fast", CONFIDENT)):
            pass
    assert any("AUTHENTICATION IS DISABLED" in r.getMessage() for r in caplog.records)


def test_api_key_from_env_and_file(tmp_path):
    p = tmp_path / "svc.toml"
    p.write_text('api_key = "from-file"\n[routing]\nconfident_threshold = 0.9\n[[backends]]\nname = "features"\n')
    assert load_config(p, env={}).api_key.get_secret_value() == "from-file"
    cfg = load_config(p, env={"FORMWHY_API_KEY": "from-env"})
    assert cfg.api_key.get_secret_value() == "from-env" and cfg.routing.confident_threshold == 0.9
    assert "from-env" not in repr(cfg) and "from-env" not in str(cfg.model_dump())


def test_invalid_trace_422_lists_paths(real):
    tr = example("4-form_friction")
    tr["events"][2]["len"] = -1
    tr["events"][3]["value"] = "secret"
    r = real.post("/v1/classify", json=tr, headers=AUTH)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert "events[2].len: must be >= 0" in errors
    assert any(e.startswith("events[3].value: unknown key") for e in errors)
    r = real.post("/v1/classify", json={"trace": tr}, headers=AUTH)
    assert "trace.events[2].len: must be >= 0" in r.json()["errors"]
    r = real.post("/v1/classify/batch", json={"traces": [example(), tr]}, headers=AUTH)
    assert r.status_code == 422 and "traces[1].events[2].len: must be >= 0" in r.json()["errors"]
    r = real.post("/v1/classify", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0].startswith("(root): not valid JSON")
    r = real.post("/v1/classify", json=[1, 2], headers=AUTH)
    assert r.status_code == 422


def test_event_limit_and_body_limit(real):
    tr = example("6-distraction")
    tr["events"] = [{"t": i, "type": "hidden"} for i in range(5001)]
    r = real.post("/v1/classify", json=tr, headers=AUTH)
    assert r.status_code == 422 and any("events: must have at most 5000" in e for e in r.json()["errors"])
    big = b'{"schema": "formwhy.trace/v1", "pad": "' + b"x" * 1_100_000 + b'"}'
    r = real.post("/v1/classify", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no content-length: the limit holds while streaming
        for _ in range(12):
            yield b"x" * 100_000

    r = real.post("/v1/classify", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_batch(real):
    names = ["1-price_shock", "2-account_wall", "5-technical_error", "6-distraction"]
    r = real.post("/v1/classify/batch", json={"traces": [example(n) for n in names]}, headers=AUTH)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["class"] for x in results] == [n.split("-", 1)[1] for n in names]
    assert real.post("/v1/classify/batch", json={"traces": []}, headers=AUTH).status_code == 422
    assert real.post("/v1/classify/batch", json={"traces": [example()] * 101}, headers=AUTH).status_code == 413


def test_metrics(real):
    real.post("/v1/classify", json=example(), headers=AUTH)
    real.post("/v1/classify", json=example(), headers={})
    text = real.get("/metrics").text
    assert 'formwhy_requests_total{backend="features",route="/v1/classify",status="200"}' in text
    assert 'route="/v1/classify",status="401"' in text
    assert "formwhy_request_latency_seconds_bucket" in text
    assert "formwhy_abstentions_total" in text and "formwhy_fallbacks" in text


def test_no_body_or_value_is_logged(real, caplog):
    tr = example("3-trust_concern")
    tr["session_id"] = "SESSIONZZ987"
    with caplog.at_level(logging.DEBUG):
        real.post("/v1/classify", json=tr, headers=AUTH)
        bad = dict(tr, extra="ZZSECRET123")
        real.post("/v1/classify", json=bad, headers=AUTH)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "route=/v1/classify status=200" in text and "class=trust_concern" in text
    assert "SESSIONZZ987" not in text and "ZZSECRET123" not in text and KEY not in text


def test_session_tokens_and_beacon(real):
    r = real.post("/v1/tokens", headers=AUTH)
    assert r.status_code == 200
    tok, sid = r.json()["token"], r.json()["session_id"]
    assert real.post("/v1/tokens", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    # a token classifies one trace (fetch) ...
    assert real.post("/v1/classify", json=example(), headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    # ... but not batches
    assert real.post("/v1/classify/batch", json={"traces": [example()]},
                     headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    # a beacon: text/plain body, token in the query
    r = real.post(f"/v1/beacon?token={tok}", content=json.dumps(example("2-account_wall")),
                  headers={"Content-Type": "text/plain"})
    assert r.status_code == 202 and r.json()["session_id"] == sid
    got = real.get(f"/v1/sessions/{sid}/result", headers={"Authorization": f"Bearer {tok}"})
    assert got.status_code == 200 and got.json()["class"] == "account_wall"
    other = real.post("/v1/tokens", headers=AUTH).json()["token"]
    assert real.get(f"/v1/sessions/{sid}/result", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    # used up after MAX_USES classifications
    assert real.post(f"/v1/beacon?token={tok}", content=json.dumps(example())).status_code == 202
    assert real.post(f"/v1/beacon?token={tok}", content=json.dumps(example())).status_code == 401
    # forged / tampered tokens
    assert real.post("/v1/beacon?token=abc.def", content=json.dumps(example())).status_code == 401
    assert real.post(f"/v1/beacon?token={other[:-2]}xx", content=json.dumps(example())).status_code == 401


def test_demo_and_docs(real):
    r = real.get("/demo")
    assert r.status_code == 200 and "__FORMWHY_TOKEN__" not in r.text and "/static/formwhy.js" in r.text
    assert KEY not in r.text
    js = real.get("/static/formwhy.js")
    assert js.status_code == 200 and "FormWhy" in js.text
    assert real.get("/docs").status_code == 200
    doc = real.get("/openapi.json").json()
    assert "/v1/classify" in doc["paths"] and "Trace" in doc["components"]["schemas"]


def test_web_snippet_is_the_served_one():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert (root / "web" / "formwhy.js").read_bytes() == (
        root / "src" / "formwhy" / "service" / "static" / "formwhy.js").read_bytes()


# --- routing policy with fake backends -------------------------------------------------------------------------


def test_fast_path_answers_when_confident():
    fast, slow = FakeBackend("fast", CONFIDENT), FakeBackend("slow_llm", LLM_SURE)
    with client_for(fake_config(), fast=fast, slow_llm=slow) as c:
        body = c.post("/v1/classify", json=example(), headers=AUTH).json()
    assert body["backend"] == "fast" and body["class"] == "price_shock" and not body["escalated"]
    assert slow.calls == 0 and body["fallbacks"] == []


def test_escalates_when_unsure():
    fast, slow = FakeBackend("fast", UNSURE), FakeBackend("slow_llm", LLM_SURE)
    with client_for(fake_config(), fast=fast, slow_llm=slow) as c:
        body = c.post("/v1/classify", json=example(), headers=AUTH).json()
    assert body["backend"] == "slow_llm" and body["class"] == "account_wall" and body["escalated"]
    assert body["abstained"] is False


def test_tight_latency_budget_keeps_fast_answer():
    cfg = fake_config(backends=[BackendConfig(name="fast"), BackendConfig(name="slow_llm", min_budget_ms=1000)])
    fast, slow = FakeBackend("fast", UNSURE), FakeBackend("slow_llm", LLM_SURE)
    with client_for(cfg, fast=fast, slow_llm=slow) as c:
        b1 = c.post("/v1/classify", json=example(), headers={**AUTH, "X-Latency-Budget-Ms": "50"}).json()
        b2 = c.post("/v1/classify", json={"trace": example(), "latency_budget_ms": 50}, headers=AUTH).json()
        b3 = c.post("/v1/classify", json={"trace": example(), "latency_budget_ms": 5000}, headers=AUTH).json()
        bad = c.post("/v1/classify", json=example(), headers={**AUTH, "X-Latency-Budget-Ms": "soon"})
    assert b1["backend"] == "fast" and b2["backend"] == "fast" and slow.calls == 1
    assert b3["backend"] == "slow_llm"
    assert bad.status_code == 422


@pytest.mark.parametrize("failure", ["timeout", "raises", "backend_error"])
def test_escalation_failure_falls_back_to_fast_answer(failure):
    slow = (FakeBackend("slow_llm", LLM_SURE, delay_s=2.0) if failure == "timeout"
            else FakeBackend("slow_llm", LLM_SURE, fail="boom" if failure == "raises" else "backend_error"))
    with client_for(fake_config(), fast=FakeBackend("fast", UNSURE), slow_llm=slow) as c:
        r = c.post("/v1/classify", json=example(), headers=AUTH)
        text = c.get("/metrics").text
    assert r.status_code == 200
    body = r.json()
    assert body["backend"] == "fast"
    assert [f["backend"] for f in body["fallbacks"]] == ["slow_llm"]
    reason = body["fallbacks"][0]["reason"]
    assert reason.startswith("timeout" if failure == "timeout" else "error")
    assert 'formwhy_fallbacks_total{backend="slow_llm"' in text
    # unsure + no conformal set (uncalibrated fake) + top 0.40 < 0.6: abstains and says so
    assert body["abstained"] is True
    assert "formwhy_abstentions_total 1.0" in text


def test_fast_backend_broken_llm_answers():
    fast = FakeBackend("fast", CONFIDENT, fail="segfault-ish")
    with client_for(fake_config(), fast=fast, slow_llm=FakeBackend("slow_llm", LLM_SURE)) as c:
        body = c.post("/v1/classify", json=example(), headers=AUTH).json()
    assert body["backend"] == "slow_llm" and body["fallbacks"][0]["backend"] == "fast"


def test_all_backends_fail_is_503_never_500():
    fast = FakeBackend("fast", CONFIDENT, fail="boom")
    slow = FakeBackend("slow_llm", LLM_SURE, delay_s=2.0)
    with client_for(fake_config(), fast=fast, slow_llm=slow) as c:
        r = c.post("/v1/classify", json=example(), headers=AUTH)
        rb = c.post("/v1/classify/batch", json={"traces": [example(), example()]}, headers=AUTH)
        assert c.get("/healthz").status_code == 200  # loaded, even if failing
    assert r.status_code == 503 and rb.status_code == 503
    assert "no backend could classify" in r.json()["detail"]
    assert [e.split(":")[0] for e in r.json()["errors"]] == ["fast", "slow_llm"]


def test_unavailable_backend_reported_and_skipped():
    cfg = fake_config(backends=[BackendConfig(name="fast"), BackendConfig(name="nonexistent_backend")])
    with client_for(cfg, fast=FakeBackend("fast", UNSURE)) as c:
        health = c.get("/healthz").json()
        body = c.post("/v1/classify", json=example(), headers=AUTH).json()
    slots = {b["name"]: b for b in health["backends"]}
    assert slots["nonexistent_backend"]["available"] is False and "unknown backend" in slots[
        "nonexistent_backend"]["error"]
    assert body["backend"] == "fast"  # no available later backend: the fast answer stands, no escalation


def test_nothing_available_is_503():
    cfg = fake_config(backends=[BackendConfig(name="nonexistent_backend")])
    with client_for(cfg) as c:
        assert c.get("/healthz").status_code == 503
        r = c.post("/v1/classify", json=example(), headers=AUTH)
    assert r.status_code == 503 and "unavailable" in r.json()["errors"][0]


def test_abstains_with_conformal_set():
    import numpy as np

    from formwhy.service.router import Router, Slot

    class Sets:
        is_fitted, has_sets = True, True

        def apply(self, preds, method="temperature"):  # noqa: ANN001, ANN202
            return np.stack([p.probs for p in preds])

        def sets(self, probs):  # noqa: ANN001, ANN202
            return [[0, 1] for _ in probs]

    import asyncio

    slot = Slot(BackendConfig(name="fast"), backend=FakeBackend("fast", UNSURE), calibrator=Sets())
    router = Router([slot], RoutingPolicy(abstain_threshold=0.6))
    (d,) = asyncio.run(router.classify([parse_trace(example())]))
    assert d.abstained and d.prediction_set == ["price_shock", "account_wall"]
    router.policy = RoutingPolicy(abstain_threshold=0.3)
    (d,) = asyncio.run(router.classify([parse_trace(example())]))
    assert not d.abstained
    router.close()


def test_cors_only_when_configured():
    cfg = fake_config(cors_origins=["https://shop.example"])
    with client_for(cfg, fast=FakeBackend("fast", CONFIDENT), slow_llm=FakeBackend("slow_llm", LLM_SURE)) as c:
        pre = c.options("/v1/classify", headers={"Origin": "https://shop.example", "Access-Control-Request-Method":
                                                 "POST", "Access-Control-Request-Headers": "authorization"})
        other = c.options("/v1/classify", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in other.headers


# --- the shipped production config (deploy/service.toml) with a real OpenAI-compatible backend -----------------


def test_shipped_service_config_routes_to_vllm_then_falls_back(tmp_path, monkeypatch):
    """deploy/service.toml lists features -> openai (vLLM) -> llm -> workers-ai. Here the openai backend is the real
    client talking to a local server that replays vLLM's /v1/completions shape (vLLM needs a GPU); its options
    (base_url, model) reach it through the config exactly as in production. The fast and local-LLM backends are fakes;
    workers-ai has no credentials, so it is reported unavailable rather than failing the service."""
    from pathlib import Path

    from http_replay import ReplayServer
    from test_backend_openai import GEMMA_DIGITS, ids_top, vllm_completion

    from formwhy.llm.prompt import PROMPT_VERSION

    shipped = Path(__file__).resolve().parents[1] / "deploy" / "service.toml"
    cfg = load_config(shipped, env={"FORMWHY_API_KEY": KEY})
    assert [b.name for b in cfg.backends] == ["features", "openai", "llm", "workers-ai"]
    assert cfg.backends[1].options["model"] == "formwhy" and "modal.run" in str(cfg.backends[1].options["base_url"])

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "formwhy.json").write_text(json.dumps({"prompt_version": PROMPT_VERSION, "max_event_lines": 48,
                                                      "digit_token_ids": GEMMA_DIGITS, "temperature": None}))
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    srv = ReplayServer()
    try:
        openai = cfg.backends[1]
        openai.model = str(adapter)
        openai.options.update(base_url=srv.url + "/v1", retries=0)
        srv.default("/v1/completions", 200, vllm_completion(ids_top([-3.0, -0.05, -4.0, -5.0, -5.0, -6.0])))
        llm = FakeBackend("llm", CONFIDENT)
        with client_for(cfg, features=FakeBackend("features", UNSURE), llm=llm) as c:
            health = {b["name"]: b for b in c.get("/healthz").json()["backends"]}
            body = c.post("/v1/classify", json=example(), headers=AUTH).json()
            assert health["openai"]["available"] and not health["workers-ai"]["available"]
            assert "CLOUDFLARE_API_TOKEN" in health["workers-ai"]["error"]
            assert body["backend"] == "openai" and body["class"] == "account_wall" and body["escalated"]
            assert srv.requests[-1][2]["model"] == "formwhy"  # the option from the config file
            assert llm.calls == 0

            srv.default("/v1/completions", 503, {"error": {"message": "vLLM is restarting"}})
            body = c.post("/v1/classify", json=example(), headers=AUTH).json()
        assert body["backend"] == "llm" and body["class"] == "price_shock"
        assert [f["backend"] for f in body["fallbacks"]] == ["openai"] and "503" in body["fallbacks"][0]["reason"]
    finally:
        srv.close()


def test_backend_options_are_checked(tmp_path):
    from formwhy.backends import BackendError, load_backend

    with pytest.raises(BackendError, match="takes no options, got: base_url"):
        load_backend("features", tmp_path, base_url="http://x")
    with pytest.raises(BackendError, match=r"unknown option\(s\) for backend 'openai': colour; allowed: base_url"):
        load_backend("openai", tmp_path, base_url="http://127.0.0.1:9/v1", colour="red")
    with pytest.raises(BackendError, match=r"unknown option\(s\) for backend 'llm': base_url; allowed: dtype"):
        load_backend("llm", tmp_path, base_url="http://x")
    be = load_backend("openai", tmp_path, base_url="http://127.0.0.1:9/v1", model="ft", timeout=3.0)
    assert be.model_id == "ft @ http://127.0.0.1:9/v1"
