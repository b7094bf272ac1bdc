"""A bounded load test of the fast path on a real uvicorn server on 127.0.0.1 (bench/load_test.py): a fixed number
of requests under a duration cap; no request may fail."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

from _live_server import live_server  # noqa: E402

from formwhy.service import BackendConfig, ServiceConfig, create_app  # noqa: E402


def _load_bench():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "bench" / "load_test.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.timeout(90)
def test_fast_path_load(features_model_dir):
    bench = _load_bench()
    app = create_app(ServiceConfig(api_key="k", backends=[BackendConfig(name="features",
                                                                        model=str(features_model_dir))]))
    with live_server(app) as base:
        res = asyncio.run(bench.run_load(base, "k", n_requests=400, concurrency=16, max_seconds=30))
    print(res)
    assert res["errors"] == 0, res
    assert res["requests_done"] == 400, res
    assert res["backends"] == {"features": 400}
    assert res["throughput_rps"] > 20 and res["latency_ms"]["p95"] < 2000


@pytest.mark.timeout(300)
def test_llm_path_load():
    """The LLM path under load: a service whose only backend is the shipped adapter, a bounded number of requests
    from 4 concurrent clients; every request answered by the llm backend, none failed. Without an adapter the bench
    records the part as skipped (and says why)."""
    bench = _load_bench()
    if not (bench.LLM_ADAPTER / "formwhy.json").exists():
        assert "no LLM adapter" in bench.llm_path(1, 1, 1)["skipped"]
        return
    res = bench.llm_path(12, 4, 240)
    print(res)
    assert "skipped" not in res, res
    assert res["errors"] == 0 and res["requests_done"] == 12, res
    assert res["backends"] == {"llm": 12}
