"""Latency and throughput of the ``features`` backend (not a test; run it by hand).

    .venv/bin/python bench/bench_features.py [--data data/synthetic/test.jsonl] [--model models/features] [--reps 20]

Measures, per trace of the data set (each trace timed on its own, ``--reps`` times):

* feature extraction (:func:`formwhy.features.extract_row`),
* model inference on one precomputed feature row (``FeatureModel.predict_proba_features``),
* the whole backend call for one trace (``FeatureModel.predict([trace])``), with and without reasoning,

and batch throughput (the whole data set in one call). Prints a table and writes ``bench/results/features.json``.
Target: p50 <= 2 ms per trace.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 2.0


def _pcts(samples_s: list[float]) -> dict[str, float]:
    a = np.asarray(samples_s) * 1000.0
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": int(a.size)}


def _per_trace(fn, items, reps: int) -> dict[str, float]:  # noqa: ANN001
    for it in items[: min(5, len(items))]:  # warm-up
        fn(it)
    out = []
    for _ in range(reps):
        for it in items:
            t0 = time.perf_counter()
            fn(it)
            out.append(time.perf_counter() - t0)
    return _pcts(out)


def _throughput(fn, n: int, reps: int) -> dict[str, float]:  # noqa: ANN001
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    best, med = min(times), float(np.median(times))
    return {"batch_size": n, "median_s": med, "traces_per_s": n / med, "best_traces_per_s": n / best,
            "ms_per_trace": 1000.0 * med / n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data/synthetic/test.jsonl")
    ap.add_argument("--model", type=Path, default=ROOT / "models/features")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/features.json")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from formwhy.backends import BackendError
    from formwhy.backends.features import FeatureModel
    from formwhy.dataset import DatasetError, read_examples
    from formwhy.features import N_FEATURES, extract, extract_row

    try:
        traces = [ex.trace for ex in read_examples(args.data)]
        model = FeatureModel.load(args.model)
    except (DatasetError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    X = extract(traces)
    rows = [X[i:i + 1] for i in range(len(traces))]
    events = np.array([len(t.events) for t in traces])

    per = {
        "features": _per_trace(extract_row, traces, args.reps),
        "model": _per_trace(model.predict_proba_features, rows, args.reps),
        "backend_predict": _per_trace(lambda t: model.predict([t]), traces, args.reps),
        "backend_predict_reasoning": _per_trace(lambda t: model.predict([t], reasoning=True), traces,
                                                max(1, args.reps // 4)),
    }
    batch = {
        "features": _throughput(lambda: extract(traces), len(traces), args.reps),
        "model": _throughput(lambda: model.predict_proba_features(X), len(traces), args.reps),
        "backend_predict": _throughput(lambda: model.predict(traces), len(traces), args.reps),
    }
    result = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data),
        "n_traces": len(traces),
        "events_per_trace": {"median": float(np.median(events)), "max": int(events.max())},
        "n_features": N_FEATURES,
        "model": model.model_id,
        "reps": args.reps,
        "per_trace_ms": per,
        "batch": batch,
        "target_p50_ms": TARGET_P50_MS,
        "meets_target": bool(per["backend_predict"]["p50"] <= TARGET_P50_MS),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    con = Console()
    table = Table(title=f"features backend on {result['data']} ({len(traces)} traces, median "
                        f"{result['events_per_trace']['median']:.0f} events; {args.reps} reps)")
    for col in ("per trace", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "per trace" else "right")
    for name, r in per.items():
        table.add_row(name, f"{r['p50']:.3f}", f"{r['p95']:.3f}", f"{r['p99']:.3f}")
    con.print(table)
    bt = Table(title="batch (the whole set in one call)")
    for col in ("stage", "traces/s", "ms per trace"):
        bt.add_column(col, justify="left" if col == "stage" else "right")
    for name, r in batch.items():
        bt.add_row(name, f"{r['traces_per_s']:.0f}", f"{r['ms_per_trace']:.4f}")
    con.print(bt)
    verdict = "meets" if result["meets_target"] else "MISSES"
    con.print(f"one-trace backend p50 {per['backend_predict']['p50']:.3f} ms {verdict} the {TARGET_P50_MS} ms "
              f"target (load average {result['machine']['load_avg_1m']:.1f} on {result['machine']['cpus']} CPUs)")
    con.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
