"""Two models on the same labelled set: paired differences with bootstrap intervals (it re-scores nothing itself).

    .venv/bin/python bench/compare_evals.py NEW_EVAL_DIR OLD_EVAL_DIR [--probs calibrated|raw] [--n-boot 1000]

Reads each folder's ``predictions.jsonl`` (``formwhy evaluate --out DIR``), pairs the rows by id (the two must cover
the same ids with the same labels) and prints, for accuracy, macro-F1, NLL, Brier and ECE (15 equal-width bins),
``NEW - OLD`` with a 95 % paired percentile-bootstrap interval (the same rows are resampled for both models), plus
how many traces each got right, on how many both give the same class, and the largest difference between their
probabilities. Where both were run with ``--verbalized``, it also counts the traces whose generated answers are the
same in both (stated confidence, stated class, reasoning, or the reason the answer could not be read). The
experiments in ``bench/experiments/README.md`` and the README's float32 / bfloat16 comparison quote it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from formwhy.calibration import accuracy, brier, ece, macro_f1, nll, paired_bootstrap_diff
from formwhy.taxonomy import NAMES

METRICS = {"accuracy": accuracy, "macro-F1": macro_f1, "NLL": nll, "Brier": brier, "ECE": ece}  # ECE: 15 bins


def read_predictions(folder: Path, which: str) -> dict[str, tuple[int, list[float]]]:
    path = folder / "predictions.jsonl"
    if not path.exists():
        raise SystemExit(f"error: {path}: no such file (run `formwhy evaluate --out {folder}` first)")
    rows = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            probs = [float(x) for x in row[which]]
            if len(probs) != len(NAMES):
                raise ValueError(f"{len(probs)} probabilities, not {len(NAMES)}")
            label = NAMES.index(row["label"])
        except (ValueError, KeyError, TypeError) as exc:  # bad JSON, a missing field, an unknown class
            raise SystemExit(f"error: {path}:{n}: not a `formwhy evaluate` prediction row ({exc!r})") from None
        if row["id"] in rows:
            raise SystemExit(f"error: {path}:{n}: id {row['id']!r} appears twice")
        rows[row["id"]] = (label, probs)
    return rows


ANSWER_FIELDS = ("verbalized", "verbalized_label", "reasoning", "answer_error")


def read_answers(folder: Path) -> dict[str, tuple[object, ...]]:
    """Each row's generated answer (``--verbalized`` runs; rows already checked by :func:`read_predictions`)."""
    rows = (json.loads(line) for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines())
    return {r["id"]: tuple(r.get(k) for k in ANSWER_FIELDS) for r in rows
            if any(k in r for k in ANSWER_FIELDS)}


def compare(new: Path, old: Path, which: str = "calibrated", n_boot: int = 1000, seed: int = 0) -> dict[str, object]:
    a, b = read_predictions(new, which), read_predictions(old, which)
    if set(a) != set(b):
        raise SystemExit(f"error: {new} and {old} do not cover the same ids "
                         f"({len(set(a) - set(b))} only in the first, {len(set(b) - set(a))} only in the second)")
    ids = sorted(a)
    if any(a[i][0] != b[i][0] for i in ids):
        raise SystemExit(f"error: {new} and {old} give different labels to the same id")
    y = np.array([a[i][0] for i in ids])
    pa, pb = np.array([a[i][1] for i in ids]), np.array([b[i][1] for i in ids])
    out: dict[str, object] = {"n": len(ids), "right_new": int((pa.argmax(1) == y).sum()),
                              "right_old": int((pb.argmax(1) == y).sum()),
                              "same_class": int((pa.argmax(1) == pb.argmax(1)).sum()),
                              "max_abs_diff": float(np.abs(pa - pb).max())}
    metrics = {}
    for name, fn in METRICS.items():
        d, (lo, hi) = paired_bootstrap_diff(fn, pa, pb, y, n_boot=n_boot, seed=seed)
        metrics[name] = {"new": fn(pa, y), "old": fn(pb, y), "diff": d, "ci": [lo, hi]}
    out["metrics"] = metrics
    ans_a, ans_b = read_answers(new), read_answers(old)
    both = sorted(set(ans_a) & set(ans_b))
    if both:
        out["answers"] = {"n": len(both), "same": sum(ans_a[i] == ans_b[i] for i in both)}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("new", type=Path)
    ap.add_argument("old", type=Path)
    ap.add_argument("--probs", choices=("calibrated", "raw"), default="calibrated")
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args(argv)
    res = compare(args.new, args.old, args.probs, args.n_boot)
    print(f"{args.new} vs {args.old}: n = {res['n']}, right {res['right_new']} vs {res['right_old']} "
          f"({args.probs} probabilities, 95 % paired bootstrap, {args.n_boot} resamples)")
    print(f"  same top class on {res['same_class']} of {res['n']}; largest probability difference "
          f"{res['max_abs_diff']:.3f}")
    metrics: dict[str, dict[str, object]] = res["metrics"]  # type: ignore[assignment]
    for name, m in metrics.items():
        print(f"  {name:9} {m['new']:.3f} - {m['old']:.3f} = {m['diff']:+.3f} [{m['ci'][0]:+.3f}, {m['ci'][1]:+.3f}]")
    if "answers" in res:
        a: dict[str, int] = res["answers"]  # type: ignore[assignment]
        print(f"  generated answers (--verbalized): the same on {a['same']} of the {a['n']} traces both answered "
              "(stated confidence, class and reasoning, or why it could not be read)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
