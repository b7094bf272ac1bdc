"""Size of the compact rendering vs ``json.dumps(trace)``, in Gemma 3 tokens, on the synthetic test set.

    .venv/bin/python bench/render_tokens.py [--data data/synthetic/test.jsonl ...]

Needs the Gemma tokenizer (``formwhy models pull gemma3-270m`` once). Writes bench/results/render_tokens.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from formwhy.dataset import read_examples
from formwhy.llm.models import load_tokenizer
from formwhy.llm.prompt import MAX_EVENT_LINES, build_prompt
from formwhy.render import render_trace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", nargs="+", default=["data/synthetic/test.jsonl", "data/real/test.jsonl"])
    ap.add_argument("--out", default="bench/results/render_tokens.json")
    args = ap.parse_args()
    tok = load_tokenizer("gemma3-270m")

    def n(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False))

    results = {}
    for path in args.data:
        ex = read_examples(path)
        js = [n(json.dumps(e.trace.to_dict())) for e in ex]
        full = [n(render_trace(e.trace, max_lines=10_000)) for e in ex]
        cut = [n(render_trace(e.trace, max_lines=MAX_EVENT_LINES)) for e in ex]
        prompt = [n(build_prompt(e.trace)) for e in ex]
        results[path] = {
            "n": len(ex),
            "json_tokens_mean": statistics.mean(js),
            "render_tokens_mean": statistics.mean(full),
            "ratio_total": sum(full) / sum(js),
            "ratio_mean_per_trace": statistics.mean(f / j for f, j in zip(full, js, strict=True)),
            "ratio_max": max(f / j for f, j in zip(full, js, strict=True)),
            f"render_tokens_mean_cut_{MAX_EVENT_LINES}": statistics.mean(cut),
            "prompt_tokens_mean": statistics.mean(prompt),
            "prompt_tokens_p95": sorted(prompt)[int(0.95 * (len(prompt) - 1))],
        }
        r = results[path]
        print(f"{path}: n={r['n']}  json {r['json_tokens_mean']:.0f} tok  render {r['render_tokens_mean']:.0f} tok  "
              f"ratio {r['ratio_total']:.1%} (per trace mean {r['ratio_mean_per_trace']:.1%}, max "
              f"{r['ratio_max']:.1%})  prompt {r['prompt_tokens_mean']:.0f} tok (p95 {r['prompt_tokens_p95']})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
