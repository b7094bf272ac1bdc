"""Local LLM backend: the fine-tuned model's first-token class probabilities, with transformers on this machine.

For probabilities it runs **one forward pass** and reads the logits of the six digit tokens at the first answer
position only: not the full vocabulary (262k entries for Gemma), not a generated token. It

* computes the key/value cache of the fixed instruction prefix once and reuses it for every request;
* batches requests (right-padded; the answer position is each row's last real token);
* applies the LM head to the six digit rows only (``h @ W[digits].T``); the full-vocabulary log-normaliser is
  computed only when ``format_health`` is asked, to report the probability mass the unrestricted model puts
  outside the six digits;
* generates the JSON reasoning and the verbalized confidence only when ``reasoning=True``, for a batch's prompts
  together (:meth:`LocalLLM.generate_answers`);
* runs in the precision the adapter's temperature was fitted at (``inference_dtype`` in its manifest, written by
  ``formwhy calibrate --dtype``): float32, or bfloat16, about 2.7 times as fast on a CPU with AVX-512 BF16
  (``bench/bench_llm.py``). An adapter calibrated for bfloat16 is served in float32, with a warning, on a CPU
  without native bfloat16 (:func:`fast_bfloat16`) unless bfloat16 is asked for explicitly; the six digit logits
  themselves are always computed in float32;
* runs one ``predict`` at a time (a lock): torch already uses every core for one call, and concurrent calls from the
  service's threads would only oversubscribe them.

The probabilities are identical (to float rounding) to a plain full forward pass with all logits; a test checks it.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from formwhy.answer import AnswerFormatError, parse_answer
from formwhy.backends.base import BackendError, Prediction
from formwhy.llm.prompt import MAX_EVENT_LINES, PREFIX, PROMPT_VERSION, build_prompt

log = logging.getLogger(__name__)


def fast_bfloat16() -> bool:
    """Whether this machine's CPU computes bfloat16 natively (AVX-512 BF16 or AMX on Linux). Elsewhere bfloat16
    may be emulated, so an adapter calibrated for bfloat16 falls back to float32 there."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


class LocalLLM:
    """The Backend contract over a causal LM (+ optional PEFT adapter), on CPU or GPU."""

    name = "llm"
    OPTIONS = ("dtype",)  # what the service config may set for this backend
    DTYPES = ("float32", "bfloat16")

    def __init__(self, model: Any, tokenizer: Any, digit_ids: Sequence[int], *, model_id: str = "llm",
                 batch_size: int = 8, max_lines: int = MAX_EVENT_LINES, max_new_tokens: int = 96,
                 format_health: bool = False) -> None:
        import torch

        self.model = model.eval()
        self._lock = threading.Lock()
        self.tok = tokenizer
        self.digit_ids = list(digit_ids)
        self._model_id = model_id
        self.batch_size = batch_size
        self.max_lines = max_lines
        self.max_new_tokens = max_new_tokens
        self.format_health = format_health
        self.torch = torch
        self.device = next(model.parameters()).device
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.trunk = base.model
        self.lm_head = base.lm_head
        self.softcap = getattr(base.config, "final_logit_softcapping", None)
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.digit_w = self.lm_head.weight[self.digit_ids].detach().float()  # (6, d), float32 whatever the model
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        bos = [tokenizer.bos_token_id] if getattr(tokenizer, "bos_token_id", None) is not None else []
        self.prefix_ids = bos + tokenizer.encode(PREFIX, add_special_tokens=False)
        self.prefix_ok = self._prefix_composes()
        self._prefix_cache = self._compute_prefix_cache() if self.prefix_ok else None

    # -- construction from an adapter directory ------------------------------------------------------------

    @classmethod
    def from_adapter(cls, adapter_dir: Path | str, *, merge: bool = True, threads: int | None = None,
                     dtype: str | None = None, **kwargs: Any) -> LocalLLM:
        """Load base + adapter (merged). ``dtype``: float32 or bfloat16; default the manifest's
        ``inference_dtype`` (the precision its temperature was fitted at), else float32; a default of bfloat16
        becomes float32, with a warning, where the CPU has no native bfloat16 (:func:`fast_bfloat16`)."""
        import torch
        from peft import PeftModel

        from formwhy.llm.models import load_base, load_tokenizer
        from formwhy.llm.train import read_manifest

        if threads:
            torch.set_num_threads(threads)
        adapter_dir = Path(adapter_dir)
        manifest = read_manifest(adapter_dir)
        if manifest.get("prompt_version") != PROMPT_VERSION:
            raise BackendError("llm", f"{adapter_dir} was trained on prompt {manifest.get('prompt_version')!r}; "
                                      f"this formwhy builds {PROMPT_VERSION!r}")
        asked = dtype
        dtype = dtype or manifest.get("inference_dtype") or "float32"
        if dtype not in cls.DTYPES:
            raise BackendError("llm", f"dtype must be one of {', '.join(cls.DTYPES)}, not {dtype!r}")
        if asked is None and dtype == "bfloat16" and not fast_bfloat16():
            log.warning("%s is calibrated for bfloat16, but this CPU has no native bfloat16 (AVX-512 BF16 or AMX): "
                        "serving in float32, where its probabilities differ slightly from those its temperature "
                        "was fitted on (pass dtype='bfloat16' to force it)", adapter_dir)
            dtype = "float32"
        tok = load_tokenizer(manifest["base_model"])
        base = load_base(manifest["base_model"])
        with warnings.catch_warnings():
            # peft reads transformers' deprecated `is_gradient_checkpointing` on load; the warning is about peft,
            # not about this adapter, and says nothing a user can act on
            warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                    category=FutureWarning)
            model = PeftModel.from_pretrained(base, str(adapter_dir))
        if merge:
            model = model.merge_and_unload()
        model = model.to(getattr(torch, dtype))
        return cls(model, tok, manifest["digit_token_ids"], model_id=str(adapter_dir),
                   max_lines=manifest.get("max_event_lines", MAX_EVENT_LINES), **kwargs)

    @property
    def model_id(self) -> str:
        return self._model_id

    # -- the fast path -----------------------------------------------------------------------------------

    def _prefix_composes(self) -> bool:
        """The cached prefix is only valid if tokenizing prefix + rest == tokens(prefix) + tokens(rest)."""
        sample = PREFIX + "form checkout x, 1 step\nfields email!\n0s view 1\n+1s exit\nAnswer:\n"
        full = self._encode_full(sample)
        return full[: len(self.prefix_ids)] == self.prefix_ids

    def _encode_full(self, prompt: str) -> list[int]:
        bos = [self.tok.bos_token_id] if getattr(self.tok, "bos_token_id", None) is not None else []
        return bos + self.tok.encode(prompt, add_special_tokens=False)

    def _compute_prefix_cache(self) -> Any:
        torch = self.torch
        ids = torch.tensor([self.prefix_ids], device=self.device)
        with torch.inference_mode():
            out = self.trunk(input_ids=ids, use_cache=True)
        return out.cache

    def _digit_scores(self, h: Any) -> tuple[Any, Any | None]:
        """Digit logits (n, 6) from final hidden states (n, d), and optionally log P(digits) under the full vocab."""
        torch = self.torch
        logits = h.float() @ self.digit_w.T
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        inside = None
        if self.format_health:
            # numerator and denominator from the same full logits: in bfloat16 the LM head rounds each logit (by up
            # to 0.06 at 20), so mixing them with the float32 digit logits above misstated the mass by up to ~10 %
            full = self.lm_head(h).float()
            if self.softcap:
                full = torch.tanh(full / self.softcap) * self.softcap
            inside = torch.logsumexp(full[:, self.digit_ids], -1) - torch.logsumexp(full, -1)
        return logits, inside

    def uncached_ids(self, prompts: Sequence[str]) -> list[list[int]]:
        """The token ids the fast path runs through the model for each prompt: what follows the cached instruction
        prefix, or the whole prompt when the prefix cannot be cached."""
        if self.prefix_ok:
            return [self.tok.encode(p[len(PREFIX):], add_special_tokens=False) for p in prompts]
        return [self._encode_full(p) for p in prompts]

    def digit_logits(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, 6) digit logits at the first answer position (and log mass on the digits, if format_health)."""
        torch = self.torch
        rests = self.uncached_ids(prompts)
        n, L = len(rests), max(len(r) for r in rests)
        ids = torch.full((n, L), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, L), dtype=torch.long)
        for i, r in enumerate(rests):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        last = torch.tensor([len(r) - 1 for r in rests], device=self.device)
        with torch.inference_mode():
            if self.prefix_ok:
                cache = copy.deepcopy(self._prefix_cache)
                if n > 1:
                    cache.batch_repeat_interleave(n)
                p = len(self.prefix_ids)
                full_mask = torch.cat([torch.ones((n, p), dtype=torch.long, device=self.device), mask], 1)
                out = self.trunk(input_ids=ids, attention_mask=full_mask, cache=cache, use_cache=True)
            else:
                out = self.trunk(input_ids=ids, attention_mask=mask)
            h = out.last_hidden_state[torch.arange(n, device=self.device), last]
            logits, inside = self._digit_scores(h)
        return logits.float().cpu().numpy(), None if inside is None else inside.cpu().numpy()

    def full_forward_digit_logits(self, prompt: str) -> np.ndarray:
        """The naive path, for tests and benchmarks: the whole prompt, all logits, then the digit columns."""
        torch = self.torch
        ids = torch.tensor([self._encode_full(prompt)], device=self.device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids).logits[0, -1]
        return logits[self.digit_ids].float().cpu().numpy()

    # -- reasoning (generation) --------------------------------------------------------------------------

    def generate_answers(self, prompts: Sequence[str]) -> list[str]:
        """Greedy answers (digit line + JSON) for prompts generated together, left-padded. Each decoding step reads
        every weight once (the 262k-row LM head above all) whatever the batch, so on a CPU a batch of 8 answers costs
        a third to a half of 8 answers one by one (``bench/bench_llm.py``). In float32 the text is the same as one at
        a time (a test checks it); in bfloat16 the padded shapes round differently and a greedy answer can take
        other words after a while (2 of 8 in the benchmark, with the same digit and JSON class)."""
        torch = self.torch
        enc = [self._encode_full(p) for p in prompts]
        n, L = len(enc), max(len(r) for r in enc)
        ids = torch.full((n, L), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, L), dtype=torch.long)
        for i, r in enumerate(enc):
            ids[i, L - len(r):] = torch.tensor(r)
            mask[i, L - len(r):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                      max_new_tokens=self.max_new_tokens, pad_token_id=self.pad_id)
        return [self.tok.decode(row[L:], skip_special_tokens=True) for row in out]

    def generate_answer(self, prompt: str) -> str:
        return self.generate_answers([prompt])[0]

    # -- the Backend contract ----------------------------------------------------------------------------

    def predict(self, traces: Sequence[Any], *, reasoning: bool = False) -> list[Prediction]:
        """Predictions in input order. Batches are formed from prompts of similar length (less padding)."""
        all_prompts = [build_prompt(t, self.max_lines) for t in traces]
        order = sorted(range(len(traces)), key=lambda i: len(all_prompts[i]))
        out: list[Prediction | None] = [None] * len(traces)
        with self._lock:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                for i, pred in zip(idx, self._predict_batch([all_prompts[i] for i in idx], reasoning), strict=True):
                    out[i] = pred
        return [p for p in out if p is not None]

    def _predict_batch(self, prompts: list[str], reasoning: bool) -> list[Prediction]:
        t0 = time.perf_counter()
        try:
            logits, inside = self.digit_logits(prompts)
        except Exception as exc:  # a model failure is a backend failure, named as such
            raise BackendError(self.name, f"forward pass failed: {exc}") from exc
        per = (time.perf_counter() - t0) * 1000 / len(prompts)
        answers: list[str] = []
        reasoning_ms = 0.0
        if reasoning:
            t1 = time.perf_counter()
            try:
                answers = self.generate_answers(prompts)
            except Exception as exc:
                raise BackendError(self.name, f"generation failed: {exc}") from exc
            reasoning_ms = (time.perf_counter() - t1) * 1000 / len(prompts)
        preds: list[Prediction] = []
        for i in range(len(prompts)):
            z = logits[i].astype(np.float64)
            probs = np.exp(z - z.max())
            probs /= probs.sum()
            extra: dict[str, Any] = {}
            if inside is not None:
                extra["outside_mass"] = float(max(0.0, 1.0 - np.exp(inside[i])))
            pred = Prediction(probs=probs, logits=z, latency_ms=per, extra=extra)
            if reasoning:
                try:
                    ans = parse_answer(answers[i])
                    pred.reasoning, pred.verbalized, pred.verbalized_label = ans.reasoning, ans.confidence, ans.label
                except AnswerFormatError as exc:
                    pred.extra["answer_error"] = exc.reason
                pred.extra["reasoning_ms"] = reasoning_ms  # the batch's generation time, shared out
            preds.append(pred)
        return preds
