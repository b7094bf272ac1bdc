"""HTTP load test of the formwhy service on 127.0.0.1 (not a test; run it by hand, a bounded test imports it).

    .venv/bin/python bench/load_test.py [--requests 2000] [--concurrency 8] [--max-seconds 60]
                                        [--llm-requests 60] [--llm-max-seconds 180]
                                        [--url http://127.0.0.1:8080 --api-key KEY]

Without ``--url`` it starts ``formwhy serve`` itself (a separate process, ephemeral port) with the ``features``
backend. It sends a fixed number of ``POST /v1/classify`` requests (the spec's six example traces in turn) from
``--concurrency`` httpx async clients, stopping early at ``--max-seconds``, and records throughput, latency
percentiles and the error count (anything but 200; it must be 0). Then, for the LLM path, the same against a
service whose only backend is the local ``llm`` backend -- only when an adapter exists at
``adapters/gemma3-270m-formwhy``; otherwise that part is recorded as skipped.
Writes ``bench/results/service_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from formwhy.service.threaded import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "formwhy" / "spec" / "examples"
LLM_ADAPTER = ROOT / "adapters" / "gemma3-270m-formwhy"
OUT = ROOT / "bench" / "results" / "service_load.json"


def example_traces() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]


async def run_load(base_url: str, api_key: str, *, n_requests: int, concurrency: int, max_seconds: float,
                   traces: list[dict[str, Any]] | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
    """Send ``n_requests`` classifications (or fewer if ``max_seconds`` runs out); the figures as a dict."""
    traces = traces or example_traces()
    bodies = [json.dumps(t).encode() for t in traces]
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    backends: dict[str, int] = {}
    errors = 0
    counter = iter(range(n_requests))
    t_end = time.perf_counter() + max_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            if time.perf_counter() > t_end:
                return
            t0 = time.perf_counter()
            try:
                r = await client.post("/v1/classify", content=bodies[i % len(bodies)], headers=headers)
                code = str(r.status_code)
                if r.status_code == 200:
                    b = r.json()["backend"]
                    backends[b] = backends.get(b, 0) + 1
                else:
                    errors += 1
            except httpx.HTTPError as exc:
                code = type(exc).__name__
                errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[code] = statuses.get(code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s) as client:
        await client.get("/healthz")  # warm the connection pool and the app
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {
        "requests_planned": n_requests,
        "requests_done": len(latencies),
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "throughput_rps": round(len(latencies) / wall, 1) if wall > 0 else None,
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 2), "p95": round(float(np.percentile(lat, 95)), 2),
                       "p99": round(float(np.percentile(lat, 99)), 2), "max": round(float(lat.max()), 2)},
        "errors": errors,
        "statuses": statuses,
        "backends": backends,
        "stopped_by_time_cap": len(latencies) < n_requests,
    }


@contextmanager
def serve_in_subprocess(config: dict[str, Any], key: str):  # noqa: ANN201
    """``formwhy serve`` in its own process (so the load generator does not share its GIL)."""
    import subprocess
    import tempfile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    env = {**os.environ, "FORMWHY_API_KEY": key}
    proc = subprocess.Popen([sys.executable, "-m", "formwhy.cli", "serve", "--port", str(port), "--backend-config",
                             f.name, "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the service did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.unlink(f.name)


def fast_path(n_requests: int, concurrency: int, max_seconds: float, *, subprocess: bool = False) -> dict[str, Any]:
    from formwhy.service import BackendConfig, ServiceConfig, create_app

    key = "load-test-key"
    if subprocess:
        with serve_in_subprocess({"backends": [{"name": "features"}]}, key) as base:
            return asyncio.run(run_load(base, key, n_requests=n_requests, concurrency=concurrency,
                                        max_seconds=max_seconds))
    app = create_app(ServiceConfig(api_key=key, backends=[BackendConfig(name="features")]))
    with serve_in_thread(app) as base:
        return asyncio.run(run_load(base, key, n_requests=n_requests, concurrency=concurrency,
                                    max_seconds=max_seconds))


def llm_path(n_requests: int, concurrency: int, max_seconds: float) -> dict[str, Any]:
    if not (LLM_ADAPTER / "formwhy.json").exists():
        return {"skipped": f"no LLM adapter at {LLM_ADAPTER.relative_to(ROOT)} (train one with `formwhy train llm`)"}
    from formwhy.service import BackendConfig, ServiceConfig, create_app

    key = "load-test-key"
    app = create_app(ServiceConfig(api_key=key, backends=[BackendConfig(name="llm", model=str(LLM_ADAPTER),
                                                                         timeout_s=60)]))
    with serve_in_thread(app) as base:
        health = httpx.get(base + "/healthz").json()
        if not any(b["available"] for b in health["backends"]):
            return {"skipped": f"the llm backend did not load: {health['backends'][0].get('error')}"}
        return asyncio.run(run_load(base, key, n_requests=n_requests, concurrency=concurrency,
                                    max_seconds=max_seconds, timeout_s=120))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--llm-requests", type=int, default=60)
    ap.add_argument("--llm-max-seconds", type=float, default=180)
    ap.add_argument("--url", help="an already running service (default: start one here)")
    ap.add_argument("--api-key", default=os.environ.get("FORMWHY_API_KEY"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    if args.url:
        if not args.api_key:
            ap.error("--url needs --api-key (or FORMWHY_API_KEY)")
        fast = asyncio.run(run_load(args.url, args.api_key, n_requests=args.requests,
                                    concurrency=args.concurrency, max_seconds=args.max_seconds))
        llm: dict[str, Any] = {"skipped": "--url given: only the running service was measured"}
    else:
        fast = fast_path(args.requests, args.concurrency, args.max_seconds, subprocess=True)
        llm = llm_path(args.llm_requests, min(args.concurrency, 4), args.llm_max_seconds)
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "server": args.url or "`formwhy serve` (uvicorn, one worker) in a separate process on 127.0.0.1",
        "fast_path_features": fast,
        "llm_path": llm,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if fast["errors"] == 0 and llm.get("errors", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
