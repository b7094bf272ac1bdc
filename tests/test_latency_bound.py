"""bench/latency_bound.py: the work per trace that the latency floor is computed from, counted on a tiny model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

torch = pytest.importorskip("torch")

from latency_bound import decoder_linears, trace_flops  # noqa: E402
from llm_tiny import make_model  # noqa: E402


def test_linear_flops_match_what_torch_counts_in_a_real_forward() -> None:
    """The decoder's linear layers counted from the modules give the matrix-product FLOPs that PyTorch's own
    FlopCounterMode records for a forward pass of the decoder (the LM head excluded, as the fast path skips it)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = make_model(vocab_size=100)
    cfg = model.config
    linears = decoder_linears(model)
    assert len(linears) == 7 * cfg.num_hidden_layers  # q, k, v, o, gate, up, down
    assert model.lm_head not in linears and all(m.in_features != cfg.vocab_size for m in linears)
    params = sum(m.in_features * m.out_features for m in linears)
    n = 13
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model.model(input_ids=torch.randint(3, 100, (1, n)))
    by_op = {str(op): c for op, c in counter.get_flop_counts()["Global"].items()}
    matmul = sum(c for op, c in by_op.items() if op.startswith(("aten.mm", "aten.addmm")))
    lin, _ = trace_flops(params, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.head_dim, 0, n)
    assert matmul == lin


def test_attention_counts_the_cached_prefix_and_the_causal_context() -> None:
    # 2 new tokens after a 3-token prefix see 4 and 5 positions: 2 x 2 x heads x head_dim x layers x 9
    lin, attn = trace_flops(10, n_layers=2, heads=2, head_dim=32, prefix=3, n_tokens=2)
    assert lin == 2 * 10 * 2
    assert attn == 2 * 2 * 2 * 32 * 2 * 9
