"""Experiment 5, step 6: the aggregates of ``testread.sh``'s evaluation folders and the judgement of #4's aims.

    .venv/bin/python bench/experiments/exp5/aggregate.py [--what TEXT] [--out bench/results/exp5-testread.json]

Reads only each ``runs/eval/<name>/metrics.json`` (no prediction, no trace). The rule (bench/experiments/README.md,
experiment 5, step 6): #4's aims are macro-F1 >= 0.90 and scaled ECE <= 0.04, and they count as met only if the six
hand-written test sets pooled and set F alone are both on the right side of both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

FOLDERS = ["s23-pooled6", "s23-f", "features-pooled6", "features-realf"]
KEYS = ["accuracy", "macro_f1", "ece", "ece_ci", "ece_floor", "nll", "brier", "aps_coverage", "aps_mean_set_size",
        "n_answered", "temperature"]
AIMS = {"macro_f1": 0.90, "ece": 0.04}


def summary(folder: Path) -> dict[str, Any]:
    m = json.loads((folder / "metrics.json").read_text())
    out: dict[str, Any] = {"data": m["data"], "n": m["n"], "model": m.get("model"), "dtype": m.get("dtype")}
    for method, r in m["methods"].items():
        out[method] = {k: r[k] for k in KEYS if r.get(k) is not None}
    return out


def judge(sets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    checks = {}
    for name in ("s23-pooled6", "s23-f"):
        r = sets[name]["calibrated"]
        checks[name] = {"macro_f1": r["macro_f1"], "macro_f1_met": r["macro_f1"] >= AIMS["macro_f1"],
                        "ece": r["ece"], "ece_met": r["ece"] <= AIMS["ece"]}
    met = all(c["macro_f1_met"] and c["ece_met"] for c in checks.values())
    return {"aims": AIMS, "checks": checks, "all_met": met}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs/eval"))
    ap.add_argument("--what", default="Experiment 5, step 6: bench/experiments/exp5/testread.sh")
    ap.add_argument("--out", type=Path, default=Path("bench/results/exp5-testread.json"))
    args = ap.parse_args(argv)
    sets = {name: summary(args.runs / name) for name in FOLDERS}
    result = {"what": args.what, "sets": sets, "judgement": judge(sets)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, c in result["judgement"]["checks"].items():
        print(f"{name}: macro-F1 {c['macro_f1']:.4f} ({'met' if c['macro_f1_met'] else 'NOT met'}), "
              f"scaled ECE {c['ece']:.4f} ({'met' if c['ece_met'] else 'NOT met'})")
    print("both aims met on the pooled six and on set F alone:", result["judgement"]["all_met"])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
