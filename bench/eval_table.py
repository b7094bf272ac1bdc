"""The README's evaluation table, from ``formwhy evaluate`` output folders (it computes nothing itself).

    .venv/bin/python bench/eval_table.py runs/eval/llm-real runs/eval/llm-real-bf16=bf16 runs/eval/features-real ...

``FOLDER=TAG`` puts ``TAG:`` before that folder's confidence labels, for example the same evaluation in bfloat16 (an
argument that is itself a folder is never split).
The set column names the hand-written and synthetic sets the README's way (real-style, set B, synthetic).

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

from formwhy.dataset import pooled_name, pooled_parts


def _f(x: Any, nd: int = 3) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _ci(m: dict[str, Any], key: str) -> str:
    lo_hi = m.get(f"{key}_ci")
    return f"{_f(m.get(key))} [{_f(lo_hi[0])}, {_f(lo_hi[1])}]" if lo_hi else _f(m.get(key))


def _floor(m: dict[str, Any]) -> str:
    return _f(m.get("ece_floor"))


SET_NAMES = {"real/test.jsonl": "real-style", "real/test-b.jsonl": "set B", "real/test-c.jsonl": "set C",
             "real/test-d.jsonl": "set D", "real/test-e.jsonl": "set E", "real/test-f.jsonl": "set F",
             "synthetic/test.jsonl": "synthetic", "handwritten/validation.jsonl": "hand-written validation",
             "handwritten/validation-c.jsonl": "hand-written validation C"}


def set_name(data: str) -> str:
    """The README's name for an evaluated file, or for pooled files (``formwhy evaluate --data A --data B``)."""
    parts = [Path(d).parent.name + "/" + Path(d).name for d in pooled_parts(data)]
    return pooled_name(SET_NAMES.get(p, p) for p in parts)


def rows(folder: Path, tag: str = "") -> list[str]:
    m = json.loads((folder / "metrics.json").read_text())
    head = f"{m['backend']} | {set_name(m['data'])} (n = {m['n']})"
    tag = f"{tag}: " if tag else ""
    out = []
    methods = m["methods"]
    if "verbalized" in methods:
        v = methods["verbalized"]
        out.append(f"| {head} | {tag}verbalized ({v.get('n_answered', v['n'])} parsed) | {_ci(v, 'ece')} | "
                   f"{_floor(v)} | {_f(v['accuracy'])} | — | — | — | — |")
    for name in ("raw", "calibrated"):
        s = methods[name]
        label = name if name == "raw" else f"scaled ({s.get('method')}, T = {_f(s.get('temperature'))})" \
            if s.get("temperature") is not None else "scaled (no calibration)"
        sets = (f"{_f(s.get('aps_coverage'))} / {_f(s.get('aps_mean_set_size'), 2)}"
                if s.get("aps_coverage") is not None else "—")
        out.append(f"| {head} | {tag}{label} | {_ci(s, 'ece')} | {_floor(s)} | {_f(s['accuracy'])} | "
                   f"{_f(s['macro_f1'])} | {_f(s['nll'])} | {_f(s['brier'])} | {sets} |")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", help="evaluation folders, each optionally FOLDER=TAG")
    args = ap.parse_args(argv)
    print("| backend | set | confidence | ECE [95 % CI] | ECE floor | accuracy | macro-F1 | NLL | Brier "
          "| APS coverage / size |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arg in args.folders:
        # FOLDER=TAG, unless the whole argument is a folder (an '=' inside a path is not a tag)
        folder, _, tag = ("", "", "") if Path(arg).is_dir() else arg.rpartition("=")
        folder = folder or arg
        for row in rows(Path(folder), tag):
            print(row)


if __name__ == "__main__":
    main()
