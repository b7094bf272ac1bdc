"""How fast the probabilities-only path could be on this CPU: the arithmetic it cannot skip, at the rate this CPU
multiplies matrices (not a test; run it by hand on an otherwise idle machine).

    .venv/bin/python bench/latency_bound.py [--model adapters/gemma3-270m-formwhy] [--data data/synthetic/test.jsonl]
                                            [--n 24] [--threads 2] [--dtype float32|bfloat16]

The fast path (``LocalLLM.digit_logits``) already skips the cached instruction prefix and all but six rows of the LM
head. What is left for a trace is its own tokens through every decoder layer. This script, in one run:

* counts that work per trace from the loaded model: 2 x in x out multiply-adds for every linear layer inside the
  decoder for each of the trace's tokens (the LoRA, merged, adds none), plus attention scores and values over the
  prefix and the trace (2 x 2 x heads x head_dim x context per token per layer);
* times every distinct linear layer shape with ``torch.nn.functional.linear`` on as many rows as the median trace has
  tokens, best of ``--reps``: the rate this CPU reaches on exactly these matrix products (GFLOP/s);
* times the fast path itself on the same traces (p50), as ``bench/bench_llm.py`` does.

The **bound** is the linear layers' time at that measured rate for the median trace: no implementation running these
weights at this precision on this CPU goes below it, whatever it does around the matrix products. Writes
``bench/results/latency-bound.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any


def decoder_linears(model: Any) -> list[Any]:
    """The linear layers inside the decoder stack (not the embedding, not the LM head)."""
    import torch

    layers = next(m for name, m in model.named_modules()
                  if name.endswith("layers") and isinstance(m, torch.nn.ModuleList))
    return [m for m in layers.modules() if isinstance(m, torch.nn.Linear)]


def trace_flops(linear_params: int, n_layers: int, heads: int, head_dim: int, prefix: int,
                n_tokens: int) -> tuple[float, float]:
    """(linear, attention) FLOP for ``n_tokens`` new tokens after a cached ``prefix``: 2 x params per token through
    the linear layers; token i attends to the prefix and to tokens 0..i (scores and weighted values, 2 x 2 x heads x
    head_dim per context position per layer)."""
    lin = 2.0 * linear_params * n_tokens
    ctx = sum(prefix + i + 1 for i in range(n_tokens))
    return lin, 2.0 * 2.0 * heads * head_dim * n_layers * ctx


def cpu() -> dict:
    """The CPU model and the vector / matrix extensions that decide the rate (Linux; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return {"model": name, "extensions": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="adapters/gemma3-270m-formwhy")
    ap.add_argument("--data", default="data/synthetic/test.jsonl")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--reps", type=int, default=20, help="timings per linear layer shape (the best is kept)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--dtype", default=None, choices=("float32", "bfloat16"),
                    help="default: the adapter's inference_dtype")
    ap.add_argument("--target-ms", type=float, default=250.0, help="the issue's p50 target")
    ap.add_argument("--out", default="bench/results/latency-bound.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from bench_llm import fast_path_ms, pct, report

    from formwhy.backends.llm_local import LocalLLM
    from formwhy.dataset import read_examples
    from formwhy.llm.prompt import build_prompt

    llm = LocalLLM.from_adapter(Path(args.model), dtype=args.dtype)
    model = llm.model
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    linears = decoder_linears(model)
    linear_params = sum(m.in_features * m.out_features for m in linears)
    n_layers, heads, head_dim = cfg.num_hidden_layers, cfg.num_attention_heads, cfg.head_dim

    traces = [e.trace for e in read_examples(args.data)][: args.n]
    prompts = [build_prompt(t, llm.max_lines) for t in traces]
    prefix = len(llm.prefix_ids) if llm.prefix_ok else 0
    own = [len(ids) for ids in llm.uncached_ids(prompts)]

    median_tokens = int(statistics.median(own))
    dtype = next(model.parameters()).dtype
    shapes = Counter((m.in_features, m.out_features) for m in linears)
    per_shape = []
    linear_s = 0.0
    with torch.inference_mode():
        for (fan_in, fan_out), count in sorted(shapes.items()):
            x = torch.randn(median_tokens, fan_in, dtype=dtype)
            w = torch.randn(fan_out, fan_in, dtype=dtype)
            torch.nn.functional.linear(x, w)  # warm-up
            best = float("inf")
            for _ in range(args.reps):
                t = time.perf_counter()
                torch.nn.functional.linear(x, w)
                best = min(best, time.perf_counter() - t)
            gflops = 2.0 * median_tokens * fan_in * fan_out / best / 1e9
            per_shape.append({"in": fan_in, "out": fan_out, "layers": count, "best_ms": best * 1000,
                              "gflop_per_s": gflops})
            linear_s += best * count

    fast = fast_path_ms(llm, prompts)  # as bench_llm.py times it

    lin_f, attn_f = trace_flops(linear_params, n_layers, heads, head_dim, prefix, median_tokens)
    rate = lin_f / linear_s / 1e9
    fast_p50 = pct(fast, 50)
    res = {
        "what": f"{args.model}, {str(dtype).removeprefix('torch.')}", "threads": args.threads, "n": len(prompts),
        "cpu": cpu(), "load_average_1m": os.getloadavg()[0],
        "decoder_layers": n_layers, "linear_params_in_decoder": linear_params,
        "prefix_tokens_cached": prefix,
        "trace_tokens": {"mean": statistics.mean(own), "p50": median_tokens},
        "median_trace_gflop": {"linear": lin_f / 1e9, "attention": attn_f / 1e9},
        "linear_shapes": per_shape,
        "measured_linear_gflop_per_s": rate,
        "bound_ms_median_trace": linear_s * 1000,
        "fast_ms_p50": fast_p50,
        "bound_over_fast": linear_s * 1000 / fast_p50,
        "target_ms": args.target_ms,
        "rate_needed_for_target_gflop_per_s": lin_f / (args.target_ms / 1000) / 1e9,
    }
    report(res, args.out)


if __name__ == "__main__":
    main()
