"""Latency and throughput of the local LLM backend (not a test; run it by hand on an otherwise idle machine).

    .venv/bin/python bench/bench_llm.py [--model adapters/gemma3-270m-formwhy] [--data data/synthetic/test.jsonl]
                                        [--n 30] [--threads 2] [--dtype float32|bfloat16]

Measures on this machine, per trace, in the same run:

* the fast path: probabilities only (cached instruction prefix, the six digit rows of the LM head), one trace at a
  time (p50 / p95) and batched (traces/s at batch 8);
* the naive path: the whole prompt, all 262k logits, then the digit columns (p50 / p95), and the ratio;
* with reasoning (greedy generation of the JSON answer), a few traces; and reasoning for a batch of prompts generated
  together (``--reasoning-batch``, as ``predict(..., reasoning=True)`` does) against the same prompts one by one;
* prompt tokens per trace; and the training wall time per epoch from the adapter's manifest;
* with ``--train-batches K``: one training micro-batch (4 sequences, forward + backward through a fresh r=16 LoRA)
  timed K times with the answer-only loss that ``formwhy train llm`` uses (LM head on the answer rows only) and with
  the naive loss (all 262k logits at every position), and the ratio; and the answer-only step under bfloat16
  autocast (``formwhy train llm --precision bfloat16``) against float32. ``--train-only`` measures that alone
  (``.venv/bin/python bench/bench_llm.py --train-only --train-batches 3 --train-data data/handwritten/train.jsonl
  --out bench/results/train-step.json``).

Without ``--model`` (or when the adapter does not exist) it measures the *base* model: the same architecture and
cost (a merged LoRA adds no work), but its answers are meaningless. Writes ``bench/results/llm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def report(res: dict, out: str) -> None:
    """Print a benchmark's result and write it to ``out`` as JSON."""
    print(json.dumps(res, indent=2))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(res, indent=2) + "\n")


def fast_path_ms(llm: Any, prompts: list[str]) -> list[float]:
    """Milliseconds per prompt on the fast path (probabilities only), one prompt at a time, after a warm-up."""
    llm.digit_logits(prompts[:2])
    fast = []
    for p in prompts:
        t = time.perf_counter()
        llm.digit_logits([p])
        fast.append((time.perf_counter() - t) * 1000)
    return fast


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="adapters/gemma3-270m-formwhy")
    ap.add_argument("--data", default="data/synthetic/test.jsonl")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--reasoning-n", type=int, default=3)
    ap.add_argument("--reasoning-batch", type=int, default=8,
                    help="answers generated together vs one by one (0: skip)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--train-batches", type=int, default=0, help="time K training micro-batches each way")
    ap.add_argument("--train-data", default="data/synthetic/train.jsonl")
    ap.add_argument("--train-only", action="store_true", help="only the training micro-batch timings")
    ap.add_argument("--dtype", default=None, choices=("float32", "bfloat16"),
                    help="default: the adapter's inference_dtype")
    ap.add_argument("--out", default="bench/results/llm.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.train_only:
        from formwhy.backends.llm_local import fast_bfloat16

        res = {"what": "training micro-batch", "threads": args.threads, "native_bfloat16": fast_bfloat16(),
               "load_average_1m": os.getloadavg()[0], "train_data": args.train_data,
               "training_step": train_step_times(args.train_data, max(args.train_batches, 1))}
        report(res, args.out)
        return
    from formwhy.backends.llm_local import LocalLLM
    from formwhy.dataset import read_examples
    from formwhy.llm.models import DEFAULT_BASE, load_base, load_tokenizer
    from formwhy.llm.prompt import build_prompt
    from formwhy.llm.train import digit_token_ids, read_manifest

    adapter = Path(args.model)
    manifest = None
    t0 = time.perf_counter()
    if (adapter / "formwhy.json").exists():
        llm = LocalLLM.from_adapter(adapter, dtype=args.dtype)
        manifest = read_manifest(adapter)
        what = f"adapter {adapter}"
    else:
        tok = load_tokenizer(DEFAULT_BASE)
        base = load_base(DEFAULT_BASE).to(getattr(torch, args.dtype or "float32"))
        llm = LocalLLM(base, tok, digit_token_ids(tok))
        what = f"base model {DEFAULT_BASE} (no adapter at {adapter})"
    what += f", {llm.dtype}"
    load_s = time.perf_counter() - t0
    traces = [e.trace for e in read_examples(args.data)][: args.n]
    prompts = [build_prompt(t, llm.max_lines) for t in traces]
    tokens = [len(llm.tok.encode(p, add_special_tokens=False)) for p in prompts]

    fast = fast_path_ms(llm, prompts)
    naive = []
    for p in prompts:
        t = time.perf_counter()
        llm.full_forward_digit_logits(p)
        naive.append((time.perf_counter() - t) * 1000)
    llm.batch_size = 8
    t = time.perf_counter()
    llm.predict(traces)  # batches of 8 prompts of similar length
    batched = len(prompts) / (time.perf_counter() - t)
    reasoning = []
    for p in prompts[: args.reasoning_n]:
        t = time.perf_counter()
        llm.digit_logits([p])
        llm.generate_answer(p)
        reasoning.append((time.perf_counter() - t) * 1000)
    together = None
    if args.reasoning_batch:
        # prompts of similar length, as predict() batches them
        group = sorted(prompts, key=len)[: args.reasoning_batch]
        t = time.perf_counter()
        answers = llm.generate_answers(group)
        batch_s = time.perf_counter() - t
        t = time.perf_counter()
        one_by_one = [llm.generate_answer(p) for p in group]
        single_s = time.perf_counter() - t
        together = {"batch": len(group), "answers_per_s": len(group) / batch_s,
                    "one_by_one_answers_per_s": len(group) / single_s, "ratio": single_s / batch_s,
                    "same_text": sum(a == b for a, b in zip(answers, one_by_one, strict=True))}

    res = {
        "what": what, "threads": args.threads, "n": len(prompts), "load_seconds": round(load_s, 1),
        "load_average_1m": os.getloadavg()[0],
        "prompt_tokens": {"mean": statistics.mean(tokens), "p50": pct(tokens, 50), "p95": pct(tokens, 95)},
        "fast_ms": {"p50": pct(fast, 50), "p95": pct(fast, 95)},
        "naive_ms": {"p50": pct(naive, 50), "p95": pct(naive, 95)},
        "naive_over_fast_p50": pct(naive, 50) / pct(fast, 50),
        "batched_traces_per_s": batched,
        "with_reasoning_ms": {"p50": pct(reasoning, 50), "max": max(reasoning)} if reasoning else None,
        "reasoning_batched": together,
        "training": (manifest or {}).get("metrics"),
        "training_step": train_step_times(args.train_data, args.train_batches) if args.train_batches else None,
    }
    report(res, args.out)


def train_step_times(train_data: str, k: int, micro_batch: int = 4) -> dict:
    """Seconds per training micro-batch (forward + backward): the answer-only loss in float32 and under bfloat16
    autocast, and the naive full-logits loss in float32."""
    import torch
    from peft import LoraConfig, get_peft_model

    from formwhy.dataset import read_examples
    from formwhy.llm.models import DEFAULT_BASE, load_base, load_tokenizer
    from formwhy.llm.prompt import MAX_EVENT_LINES
    from formwhy.llm.train import answer_only_loss, to_records

    tok = load_tokenizer(DEFAULT_BASE)
    model = get_peft_model(load_base(DEFAULT_BASE), LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                                               target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    recs = to_records(read_examples(train_data)[:micro_batch], MAX_EVENT_LINES)
    seqs, labs = [], []
    for r in recs:
        p = [tok.bos_token_id] + tok.encode(r["prompt"], add_special_tokens=False)
        c = tok.encode(r["completion"], add_special_tokens=False) + [tok.eos_token_id]
        seqs.append(p + c)
        labs.append([-100] * len(p) + c)
    L = max(map(len, seqs))
    ids = torch.tensor([s + [tok.pad_token_id] * (L - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (L - len(s)) for s in seqs])
    labels = torch.tensor([lb + [-100] * (L - len(lb)) for lb in labs])

    def step(naive: bool, bf16: bool = False) -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # as the trainer's bf16 (mixed) precision
            if naive:
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            else:
                loss = answer_only_loss(model, ids, mask, labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - t

    step(False)  # warm-up
    answer_only = [step(False) for _ in range(k)]
    naive = [step(True) for _ in range(k)]
    step(False, bf16=True)  # warm-up (bfloat16 kernels)
    bf16 = [step(False, bf16=True) for _ in range(k)]
    return {"micro_batch": micro_batch, "tokens_per_sequence": L, "answer_tokens": int((labels != -100).sum()),
            "answer_only_s": statistics.median(answer_only), "naive_s": statistics.median(naive),
            "naive_over_answer_only": statistics.median(naive) / statistics.median(answer_only),
            "answer_only_bfloat16_s": statistics.median(bf16),
            "float32_over_bfloat16": statistics.median(answer_only) / statistics.median(bf16)}


if __name__ == "__main__":
    main()
