"""Would int8 weights bring the float32 fast path under 250 ms on a CPU without native bfloat16? (Measured: no.)

    .venv/bin/python bench/experiments/int8/int8_check.py [--n 24] [--threads 2]

Runs the shipped adapter's fast path (probabilities only, one trace at a time) in float32 and then with PyTorch's
dynamic int8 quantization of every linear layer of the trunk (``torch.ao.quantization.quantize_dynamic``, weights
int8 per tensor, activations quantized on the fly), on the first N synthetic test traces, and compares the latency
(p50) and the six-class probabilities (the largest change, and how many traces change class). Writes
``bench/results/int8-check.json``. Not adopted: see the README's latency section.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="adapters/gemma3-270m-formwhy")
    ap.add_argument("--data", default="data/synthetic/test.jsonl")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default="bench/results/int8-check.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from formwhy.backends.llm_local import LocalLLM
    from formwhy.dataset import read_examples
    from formwhy.llm.prompt import build_prompt

    llm = LocalLLM.from_adapter(args.model, dtype="float32")
    prompts = [build_prompt(e.trace, llm.max_lines) for e in read_examples(args.data)][: args.n]

    def run() -> tuple[list[float], np.ndarray]:
        llm.digit_logits(prompts[:1])  # warm-up
        ms, z = [], []
        for p in prompts:
            t = time.perf_counter()
            logits, _ = llm.digit_logits([p])
            ms.append((time.perf_counter() - t) * 1000)
            z.append(logits[0])
        return ms, np.array(z, dtype=np.float64)

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    ms32, z32 = run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice (it points to torchao)
        llm.trunk = torch.ao.quantization.quantize_dynamic(llm.trunk, {torch.nn.Linear}, dtype=torch.qint8)
    llm._prefix_cache = llm._compute_prefix_cache()  # the cached prefix, recomputed by the int8 trunk
    ms8, z8 = run()
    p32, p8 = softmax(z32), softmax(z8)
    res = {
        "what": f"{args.model}, fast path one trace at a time, {args.n} traces of {args.data}",
        "threads": args.threads, "load_average_1m": os.getloadavg()[0],
        "float32_p50_ms": float(np.median(ms32)), "int8_p50_ms": float(np.median(ms8)),
        "speedup_p50": float(np.median(ms32) / np.median(ms8)),
        "max_abs_probability_change": float(np.abs(p32 - p8).max()),
        "mean_abs_top_probability_change": float(np.abs(p32.max(1) - p8[np.arange(len(p8)), p32.argmax(1)]).mean()),
        "class_changes": int((p32.argmax(1) != p8.argmax(1)).sum()),
    }
    print(json.dumps(res, indent=2))
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
