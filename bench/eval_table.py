"""The README's evaluation table, from ``formwhy evaluate`` output folders (it computes nothing itself).

    .venv/bin/python bench/eval_table.py runs/eval/llm-real runs/eval/features-real ...

One row per method in each folder's ``metrics.json``: verbalized (when the evaluation ran with ``--verbalized``),
raw, calibrated (temperature scaling unless the evaluation chose vector). Accuracy and macro-F1 of the verbalized row
are those of the class the model wrote in its JSON answer; ECE, NLL and Brier need a probability vector, so the
verbalized row has ECE only (its stated confidence against the correctness of its stated class). "ECE floor" is the
mean ECE a perfectly calibrated model with the same confidences would show on that set (``formwhy evaluate`` writes
it; "—" for folders written before it existed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _f(x: Any, nd: int = 3) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _ci(m: dict[str, Any], key: str) -> str:
    lo_hi = m.get(f"{key}_ci")
    return f"{_f(m.get(key))} [{_f(lo_hi[0])}, {_f(lo_hi[1])}]" if lo_hi else _f(m.get(key))


def _floor(m: dict[str, Any]) -> str:
    return _f(m.get("ece_floor"))


def rows(folder: Path) -> list[str]:
    m = json.loads((folder / "metrics.json").read_text())
    data = Path(m["data"]).parent.name + "/" + Path(m["data"]).name
    head = f"{m['backend']} | {data} (n = {m['n']})"
    out = []
    methods = m["methods"]
    if "verbalized" in methods:
        v = methods["verbalized"]
        out.append(f"| {head} | verbalized ({v.get('n_answered', v['n'])} parsed) | {_ci(v, 'ece')} | {_floor(v)} | "
                   f"{_f(v['accuracy'])} | — | — | — | — |")
    for name in ("raw", "calibrated"):
        s = methods[name]
        label = name if name == "raw" else f"scaled ({s.get('method')}, T = {_f(s.get('temperature'))})" \
            if s.get("temperature") is not None else "scaled (no calibration)"
        sets = (f"{_f(s.get('aps_coverage'))} / {_f(s.get('aps_mean_set_size'), 2)}"
                if s.get("aps_coverage") is not None else "—")
        out.append(f"| {head} | {label} | {_ci(s, 'ece')} | {_floor(s)} | {_f(s['accuracy'])} | {_f(s['macro_f1'])} | "
                   f"{_f(s['nll'])} | {_f(s['brier'])} | {sets} |")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    args = ap.parse_args(argv)
    print("| backend | set | confidence | ECE [95 % CI] | ECE floor | accuracy | macro-F1 | NLL | Brier "
          "| APS coverage / size |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for folder in args.folders:
        for row in rows(folder):
            print(row)


if __name__ == "__main__":
    main()
