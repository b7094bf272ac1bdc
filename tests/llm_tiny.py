"""A tiny, randomly initialised Gemma 3 model with a character-level tokenizer, for fast LLM tests.

Same architecture class as the shipped base (``Gemma3ForCausalLM``), a few hundred kilobytes of weights, no
download: the tokenizer is built here with the ``tokenizers`` library (one token per character, so digits are
single tokens and prompt pieces compose exactly).
"""

from __future__ import annotations

import string
from pathlib import Path

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]


def make_tokenizer():  # noqa: ANN201
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable) - {"\x0b", "\x0c"})
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    from tokenizers import decoders

    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


def make_model(vocab_size: int, seed: int = 0):  # noqa: ANN201
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    cfg = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                           max_position_embeddings=4096, sliding_window=512, pad_token_id=0, eos_token_id=1,
                           bos_token_id=2)
    model = Gemma3ForCausalLM(cfg)
    with torch.no_grad():  # a less degenerate random init: spread the digit logits a bit
        model.lm_head.weight.normal_(0, 0.5)
    return model.eval()


def save_tiny_base(path: Path) -> Path:
    tok = make_tokenizer()
    model = make_model(len(tok))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_run(tmp_path: Path, seed: int) -> dict:
    """The keyword arguments of a seconds-long ``TrainConfig`` run: the tiny base and a small simulated data set
    under ``tmp_path`` (8 training and 4 validation examples, micro-batches of 4, one epoch); ``out`` is left to the
    caller."""
    from formwhy.build import build_simulated

    base = save_tiny_base(tmp_path / "tiny-base")
    build_simulated(tmp_path / "data", n=40, n_val=8, n_test=4, seed=seed)
    return dict(train=str(tmp_path / "data/train.jsonl"), validation=str(tmp_path / "data/validation.jsonl"),
                base=str(base), epochs=1, batch_size=4, grad_accum=1, max_examples=8, max_val_examples=4)
