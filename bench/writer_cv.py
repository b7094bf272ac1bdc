"""Which calibration set transfers to a new writer's traces? Leave-one-writer-out temperature scaling.

    .venv/bin/python bench/writer_cv.py [--backend llm] [--model adapters/gemma3-270m-formwhy] \
        [--handwritten data/handwritten/validation.jsonl data/handwritten/validation-c.jsonl] \
        [--synthetic data/synthetic/validation.jsonl] [--out bench/results/writer_cv.json]

Validation data only (test files are refused). Each hand-written validation trace belongs to one writer, read from
its id (the part before the first ``-``: ``hv-017`` is writer ``hv``, ``c6-003`` writer ``c6``). Three ways to fit
the temperature are compared, each scored only on writers it was not fitted on:

* ``synthetic``: T fitted on synthetic validation alone (the shipped way until this comparison), applied to every
  writer;
* ``handwritten``: T fitted on the other writers' hand-written traces;
* ``synthetic+handwritten``: T fitted on synthetic validation plus the other writers' traces.

For each writer the held-out rows are scored with the T fitted without them; the held-out ("out-of-writer")
probabilities of all writers are then pooled and scored: ECE (15 equal-width bins), NLL, Brier, accuracy. The rule
in ``bench/experiments/README.md`` (fixed before the new writers' traces existed) picks the shipped temperature
from this output. Each method's T fitted on all writers is printed too: that is the one that would be shipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from formwhy.calibration import MIN_FIT_ROWS, TemperatureScaler, accuracy, brier, ece, nll
from formwhy.calibrator import as_scores
from formwhy.dataset import DatasetError, Example, read_examples, read_pooled, refuse_test_set
from formwhy.taxonomy import NAMES

METHODS = ("synthetic", "handwritten", "synthetic+handwritten")


def writer_of(example_id: str) -> str:
    """The writer of a hand-written trace: its id up to the first ``-`` (``hv-017`` → ``hv``)."""
    head, sep, _ = example_id.partition("-")
    if not sep or not head:
        raise ValueError(f"id {example_id!r} does not start with a writer prefix such as 'hv-'")
    return head


def check_writers(writers: Sequence[str], min_fit: int = MIN_FIT_ROWS) -> None:
    """Refuse, before anything is scored, a split that cannot be run: fewer than two writers, or a writer whose
    removal leaves fewer than ``min_fit`` hand-written rows to fit the ``handwritten`` temperature on."""
    counts = dict(sorted(Counter(writers).items()))
    if len(counts) < 2:
        raise ValueError(f"leave-one-writer-out needs at least two writers, got {sorted(counts)}")
    for name, n in counts.items():
        if len(writers) - n < min_fit:
            raise ValueError(f"without writer {name!r} only {len(writers) - n} hand-written traces remain; a "
                             f"temperature needs at least {min_fit} (give more writers' files to --handwritten)")


def _fit_t(z: np.ndarray, y: np.ndarray) -> float:
    return float(TemperatureScaler().fit(z, y).temperature)  # type: ignore[arg-type]


def _softmax_t(z: np.ndarray, t: float) -> np.ndarray:
    s = z / t
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def _scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {"n": int(y.size), "ece": ece(p, y), "nll": nll(p, y), "brier": brier(p, y), "accuracy": accuracy(p, y),
            "mean_confidence": float(p.max(axis=1).mean())}


def cross_writer(z_hand: np.ndarray, y_hand: np.ndarray, writers: Sequence[str], z_syn: np.ndarray,
                 y_syn: np.ndarray) -> dict[str, Any]:
    """Leave-one-writer-out scores of the three methods (see the module docstring), from (n, 6) log-probabilities.

    Needs at least two writers. Returns ``{"writers", "methods": {method: {"pooled", "by_writer", "t_all"}}}``.
    """
    check_writers(writers)
    w = np.asarray(writers)
    names = sorted(set(writers))
    t_syn = _fit_t(z_syn, y_syn)
    out: dict[str, Any] = {"writers": {n: int((w == n).sum()) for n in names}, "methods": {}}
    for method in METHODS:
        held = np.zeros_like(z_hand)
        by_writer: dict[str, Any] = {}
        for name in names:
            test, rest = w == name, w != name
            if method == "synthetic":
                t = t_syn
            elif method == "handwritten":
                t = _fit_t(z_hand[rest], y_hand[rest])
            else:
                t = _fit_t(np.vstack([z_syn, z_hand[rest]]), np.concatenate([y_syn, y_hand[rest]]))
            held[test] = _softmax_t(z_hand[test], t)
            by_writer[name] = {"t": t, **_scores(held[test], y_hand[test])}
        t_all = {"synthetic": t_syn, "handwritten": _fit_t(z_hand, y_hand),
                 "synthetic+handwritten": _fit_t(np.vstack([z_syn, z_hand]), np.concatenate([y_syn, y_hand]))}[method]
        out["methods"][method] = {"pooled": _scores(held, y_hand), "by_writer": by_writer, "t_all": t_all}
    return out


def decide(result: dict[str, Any]) -> str:
    """The pre-registered rule: the method with the lowest pooled out-of-writer ECE, if that is lower than the
    synthetic-only temperature's and its pooled NLL is not higher; otherwise ``synthetic``."""
    m = result["methods"]
    base = m["synthetic"]["pooled"]
    best = min(("handwritten", "synthetic+handwritten"), key=lambda k: m[k]["pooled"]["ece"])
    p = m[best]["pooled"]
    return best if p["ece"] < base["ece"] and p["nll"] <= base["nll"] else "synthetic"


def _predict_scores(backend: Any, examples: list[Example], batch: int) -> np.ndarray:
    from formwhy.progress import progress

    rows = []
    with progress(f"{backend.name}: scoring", len(examples)) as advance:
        for i in range(0, len(examples), batch):
            chunk = examples[i:i + batch]
            rows.append(as_scores(backend.predict([e.trace for e in chunk])))
            advance(len(chunk))
    return np.vstack(rows)


def _labels(examples: list[Example]) -> np.ndarray:
    return np.array([NAMES.index(e.label) for e in examples])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="llm")
    ap.add_argument("--model", type=Path, default=None, help="default: the backend's default model")
    ap.add_argument("--dtype", default=None, help="--backend llm: float32 or bfloat16 (default: the manifest's)")
    ap.add_argument("--handwritten", type=Path, nargs="+",
                    default=[Path("data/handwritten/validation.jsonl"), Path("data/handwritten/validation-c.jsonl")])
    ap.add_argument("--synthetic", type=Path, default=Path("data/synthetic/validation.jsonl"))
    ap.add_argument("--out", type=Path, default=Path("bench/results/writer_cv.json"))
    args = ap.parse_args(argv)

    from formwhy.backends import load_backend, resolve_model_path

    try:
        for path in [*args.handwritten, args.synthetic]:
            refuse_test_set(path, "writer_cv")
        hand = read_pooled(args.handwritten, "--handwritten")
        syn = read_examples(args.synthetic)
        writers = [writer_of(e.id) for e in hand]
        check_writers(writers)
    except (DatasetError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = resolve_model_path(args.backend, args.model)
    options = {"dtype": args.dtype} if args.dtype else {}
    backend = load_backend(args.backend, model, **options)
    batch = 256 if args.backend == "features" else 8
    result = cross_writer(_predict_scores(backend, hand, batch), _labels(hand), writers,
                          _predict_scores(backend, syn, batch), _labels(syn))
    result.update({"backend": args.backend, "model": str(model), "dtype": getattr(backend, "dtype", args.dtype),
                   "handwritten": [str(p) for p in args.handwritten], "synthetic": str(args.synthetic),
                   "n_bins": 15, "decision": decide(result)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"writers: {result['writers']}")
    print("| method | T (all writers) | out-of-writer ECE | NLL | Brier | accuracy | mean confidence |")
    print("|---|---|---|---|---|---|---|")
    for method, m in result["methods"].items():
        p = m["pooled"]
        print(f"| {method} | {m['t_all']:.3f} | {p['ece']:.3f} | {p['nll']:.3f} | {p['brier']:.3f} | "
              f"{p['accuracy']:.3f} | {p['mean_confidence']:.3f} |")
    print(f"decision (pre-registered rule): {result['decision']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
