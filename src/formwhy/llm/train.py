"""``formwhy train llm``: LoRA / QLoRA fine-tuning with PEFT + TRL, read top to bottom.

1. load the labelled JSONL, build prompt / completion pairs with the one prompt builder;
2. load the base model (4-bit NF4 on CUDA = QLoRA, bfloat16 mixed precision; float32 on CPU = plain LoRA, see
   :func:`resolve_precision`);
3. wrap it with LoRA (r=16, alpha=32, all linear layers; ``--dora`` switches DoRA on);
4. train with TRL's ``SFTTrainer``: 3 epochs, cosine schedule, effective batch 16, evaluation each epoch, the best
   checkpoint by validation loss, loss on the answer only, where the class digit counts ``label_weight`` times
   (default 10: it is one answer token of about fifty, yet it alone decides the class);
5. write a standard PEFT adapter directory plus the ``formwhy.json`` manifest and the training log.

A run saves a checkpoint (adapter, optimizer, scheduler and random state) at the end of every epoch in
``OUT.checkpoints``, beside a record of what it was trained on (``run.json``: configuration, data hashes, the
prompt/completion records' hash). ``resume=True`` (``formwhy train llm --resume``) continues an interrupted run from
its last checkpoint, and refuses one made with other data or another configuration.

One speed-up over a stock ``SFTTrainer``: the loss only needs the logits of answer tokens, and Gemma's 262k-entry
vocabulary makes full logits the most expensive part of a step on a CPU. ``AnswerOnlySFTTrainer.compute_loss``
runs the transformer trunk, picks the hidden states of the positions that predict an answer token, and applies
the LM head to those rows only. The loss is the same cross-entropy (tested against the plain full-logits loss).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formwhy import __version__
from formwhy.answer import build_target
from formwhy.augment import augment_examples
from formwhy.dataset import Example, read_examples
from formwhy.llm.models import DEFAULT_BASE, load_base, load_tokenizer, resolve
from formwhy.llm.prompt import MAX_EVENT_LINES, PROMPT_VERSION, build_prompt
from formwhy.render import field_labels, relabel
from formwhy.taxonomy import DIGITS

logger = logging.getLogger(__name__)

MANIFEST = "formwhy.json"
RUN_RECORD = "run.json"  # in OUT.checkpoints: what the checkpoints were trained on (compared by --resume)
# configuration that does not change what is trained: where it is written, and how many CPU threads compute it
_NOT_IN_RUN = ("out", "threads")


@dataclass
class TrainConfig:
    train: str = "data/synthetic/train.jsonl"
    validation: str = "data/synthetic/validation.jsonl"
    out: str = "models/llm"
    base: str = DEFAULT_BASE
    epochs: float = 3.0
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    dora: bool = False
    quant: str = "auto"  # auto | 4bit | none
    precision: str = "auto"  # auto | float32 | bfloat16 (mixed precision: float32 weights, bfloat16 products)
    batch_size: int = 4
    grad_accum: int = 4  # effective batch = batch_size * grad_accum = 16
    max_examples: int | None = None
    max_val_examples: int | None = None
    max_lines: int = MAX_EVENT_LINES
    seed: int = 0
    threads: int | None = None
    label_weight: float = 10.0  # the class digit counts this many times in the answer loss (1 = plain cross-entropy)
    localize: float = 0.5  # share of training traces renamed into another language (formwhy.augment)
    tab_switch: float = 0.2  # share of training traces given a brief, meaningless tab switch (formwhy.augment)
    extra: dict[str, Any] = field(default_factory=dict)


def digit_token_ids(tokenizer: Any) -> list[int]:
    """The token id of each class digit '1'..'6'; each must be a single token."""
    ids = []
    for d in DIGITS:
        enc = tokenizer.encode(d, add_special_tokens=False)
        if len(enc) != 1:
            raise ValueError(f"digit {d!r} is not a single token for this tokenizer: {enc}")
        ids.append(enc[0])
    return ids


def to_records(examples: list[Example], max_lines: int,
               renames: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """Prompt / completion pairs. The reasoning names fields and click targets as the rendered prompt does: by
    their labels (:func:`formwhy.render.field_labels`), after the renaming augmentation made (``renames``, one
    ``{old: new}`` per example)."""
    out = []
    for i, ex in enumerate(examples):
        rename = renames[i] if renames is not None else {}
        labels = field_labels(ex.trace.form)
        # names as written in the reasoning (before any renaming) -> what the prompt shows
        shown = {old: labels.get(new, new) for old, new in rename.items()}
        shown.update({name: label for name, label in labels.items() if name not in shown})
        reasoning = relabel(ex.reasoning or f"Classified as {ex.label}.", shown)
        conf = ex.confidence if ex.confidence is not None else 0.8
        out.append({"prompt": build_prompt(ex.trace, max_lines), "completion": build_target(ex.label, reasoning, conf)})
    return out


def check_answers_start_with_digit(records: list[dict[str, str]], tokenizer: Any, digits: list[int]) -> None:
    """``label_weight`` weights each answer's first token, which must be its class digit: tokenizing prompt + answer
    (as TRL does) must keep the prompt's tokens and continue with a digit token. Raises ValueError naming the record."""
    for i, r in enumerate(records):
        p = tokenizer(r["prompt"])["input_ids"]
        pc = tokenizer(r["prompt"] + r["completion"])["input_ids"]
        if pc[: len(p)] != p or len(pc) == len(p) or pc[len(p)] not in digits:
            raise ValueError(f"training record {i}: the answer does not start with a class-digit token after the "
                             "prompt's tokens, so --label-weight would weight the wrong token")


def answer_only_loss(model: Any, input_ids: Any, attention_mask: Any, labels: Any, num_items: Any = None,
                     label_weight: float = 1.0) -> Any:
    """Next-token cross-entropy over the positions whose next token is an answer token (labels != -100),
    computing the LM head on those rows only.

    The (weighted) sum over this batch's answer tokens divided by their count, or, when ``num_items`` (the number
    of answer tokens in the whole gradient-accumulation batch, as the Trainer passes it) is given, by that.

    ``label_weight`` counts each row's first answer token (the class digit) that many times in the sum: the digit
    is one token of about fifty in an answer, yet it alone decides the class. 1 is the plain cross-entropy.
    """
    import torch
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    trunk = base.model
    hidden = trunk(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, d)
    target = labels[:, 1:]
    keep = target != -100
    h = hidden[:, :-1][keep]  # (M, d)
    logits = base.lm_head(h)
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    per_token = F.cross_entropy(logits.float(), target[keep], reduction="none")
    if label_weight != 1.0:
        first = (keep.cumsum(1) == 1)[keep]  # each row's first answer token, in the order of ``per_token``
        per_token = per_token * (1.0 + (label_weight - 1.0) * first.to(per_token.dtype))
    total = per_token.sum()
    return total / (num_items if num_items is not None else keep.sum())


def _make_trainer_class(label_weight: float) -> type:
    from trl import SFTTrainer

    class AnswerOnlySFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
            # accelerate applies mixed precision by wrapping model.forward, which this loss does not call (it runs
            # the trunk and the LM head's answer rows itself): its autocast context is entered here instead
            with self.accelerator.autocast():
                loss = answer_only_loss(model, inputs["input_ids"], inputs.get("attention_mask"), inputs["labels"],
                                        num_items_in_batch, label_weight)
            return (loss, None) if return_outputs else loss

    return AnswerOnlySFTTrainer


def run_record(cfg: TrainConfig, quant: str, device: str, train_records: list[dict[str, str]],
               val_records: list[dict[str, str]], precision: str = "float32") -> dict[str, Any]:
    """What a run's checkpoints are trained on: the configuration (less output path and threads), the resolved
    quantization, precision and device, the data files' sha256 and the sha256 of the exact prompt/completion records
    (after augmentation), so that a resumed run provably continues the same training."""
    def digest(records: list[dict[str, str]]) -> str:
        return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()

    config = {k: v for k, v in asdict(cfg).items() if k not in _NOT_IN_RUN}
    return {"config": config, "quant": quant, "precision": precision, "device": device,
            "prompt_version": PROMPT_VERSION,
            "data_sha256": {name: hashlib.sha256(Path(p).read_bytes()).hexdigest()
                            for name, p in (("train", cfg.train), ("validation", cfg.validation))},
            "records_sha256": {"train": digest(train_records), "validation": digest(val_records)}}


PRECISIONS = ("float32", "bfloat16")


def resolve_precision(precision: str, cuda: bool) -> str:
    """The training precision for ``auto``: bfloat16 mixed precision on a GPU, float32 on every CPU. On a CPU with
    native bfloat16 (AMX) a micro-batch is faster in bfloat16, but a whole run was not, and its adapter was worse on
    hand-written validation (``bench/experiments/README.md``, stop 22); on a CPU without it bfloat16 is emulated and
    many times slower (a warning says so when it is asked for by name)."""
    from formwhy.backends.llm_local import fast_bfloat16

    if precision == "auto":
        return "bfloat16" if cuda else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be auto, {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "bfloat16" and not cuda and not fast_bfloat16():
        logger.warning("--precision bfloat16 on a CPU without native bfloat16 (AMX or AVX-512 BF16): it is "
                       "emulated there and much slower than float32")
    return precision


def has_bitsandbytes() -> bool:
    """Whether bitsandbytes (the ``qlora`` extra) is installed, without importing it."""
    return importlib.util.find_spec("bitsandbytes") is not None


def check_4bit_available(cuda: bool) -> None:
    """QLoRA needs bitsandbytes (the ``qlora`` extra). It is chosen automatically only on a CUDA GPU; asked for by name
    on a CPU it runs (bitsandbytes has a CPU backend), slower than plain LoRA, which a warning says."""
    if not has_bitsandbytes():
        raise ValueError("--quant 4bit (QLoRA) needs bitsandbytes, which is not installed: pip install "
                         "'formwhy[qlora]' (or bitsandbytes), or train with --quant none (plain LoRA)")
    if not cuda:
        logger.warning("--quant 4bit on a CPU: bitsandbytes' NF4 runs there but is slower than plain float32 LoRA "
                       "(--quant none, the CPU default); QLoRA is meant for a CUDA GPU")


def checkpoint_dir(out: Path | str) -> Path:
    """Where a run writing the adapter ``out`` keeps its epoch checkpoints and ``run.json``: ``OUT.checkpoints``."""
    out = Path(out)
    return out.with_name(out.name + ".checkpoints")


def last_checkpoint(work: Path) -> Path | None:
    """The newest ``checkpoint-N`` folder in ``work`` (the Trainer's own lookup), or None."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(work)) if work.is_dir() else None
    return Path(last) if last else None


def check_resumable(work: Path, record: dict[str, Any]) -> Path:
    """The last checkpoint in ``work`` if it was made by the same run as ``record``; else ValueError saying what
    differs (or that there is nothing to resume)."""
    last = last_checkpoint(work)
    if last is None:
        raise ValueError(f"--resume: no checkpoint in {work} (a run saves one at the end of each epoch); run "
                         "without --resume to start")
    saved_path = work / RUN_RECORD
    if not saved_path.exists():
        raise ValueError(f"--resume: {saved_path} is missing, so these checkpoints cannot be matched to this run")
    saved = json.loads(saved_path.read_text())
    differ = sorted({f"config.{k}" for k in set(saved["config"]) | set(record["config"])
                     if saved["config"].get(k) != record["config"].get(k)} |
                    {k for k in ("quant", "precision", "device", "prompt_version", "data_sha256", "records_sha256")
                     if saved.get(k) != record.get(k)})
    if differ:
        raise ValueError(f"--resume: the checkpoints in {work} were trained with a different "
                         f"{', '.join(differ)}; run without --resume to start again")
    return last


def train(cfg: TrainConfig, progress: bool = True, resume: bool = False,
          callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train, and write the adapter directory ``cfg.out``. ``resume`` continues the run whose checkpoints are in
    ``OUT.checkpoints`` (same configuration and data, checked); ``callbacks`` are extra ``TrainerCallback``s."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import TrainerCallback
    from trl import SFTConfig

    t_start = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cuda = torch.cuda.is_available()
    quant = cfg.quant
    if quant == "auto":  # QLoRA on a CUDA GPU where bitsandbytes is installed, plain LoRA elsewhere
        quant = "4bit" if cuda and has_bitsandbytes() else "none"
        if cuda and quant == "none":
            logger.warning("a CUDA GPU but no bitsandbytes: training plain LoRA (pip install 'formwhy[qlora]' "
                           "for QLoRA)")
    if quant not in ("4bit", "none"):
        raise ValueError(f"--quant must be auto, 4bit or none, not {quant!r}")
    if quant == "4bit":
        check_4bit_available(cuda)
    precision = resolve_precision(cfg.precision, cuda)
    if not (math.isfinite(cfg.label_weight) and cfg.label_weight > 0):
        raise ValueError(f"--label-weight must be a positive number, not {cfg.label_weight!r}")
    for option, share in (("--localize", cfg.localize), ("--tab-switch", cfg.tab_switch)):
        if not (math.isfinite(share) and 0.0 <= share <= 1.0):
            raise ValueError(f"{option} must be a share within [0, 1], not {share!r}")

    train_ex = read_examples(cfg.train)[: cfg.max_examples or None]
    train_ex, renames = augment_examples(train_ex, localize_share=cfg.localize, tab_switch_share=cfg.tab_switch,
                                         seed=cfg.seed)
    val_ex = read_examples(cfg.validation)[: cfg.max_val_examples or None]
    tokenizer = load_tokenizer(cfg.base)
    digits = digit_token_ids(tokenizer)
    train_records = to_records(train_ex, cfg.max_lines, renames)
    check_answers_start_with_digit(train_records, tokenizer, digits)
    val_records = to_records(val_ex, cfg.max_lines)
    train_ds = Dataset.from_list(train_records)
    val_ds = Dataset.from_list(val_records)
    out = Path(cfg.out)
    work = checkpoint_dir(out)
    record = run_record(cfg, quant, "cuda" if cuda else "cpu", train_records, val_records, precision)
    if resume:
        last = check_resumable(work, record)  # before the model is loaded: a mismatch fails in seconds
    else:
        last = None
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n")

    model = load_base(cfg.base, quant_4bit=quant == "4bit")
    if quant == "4bit":
        # gradient checkpointing only on a GPU, as for plain LoRA (SFTConfig below); non-reentrant, as torch asks
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cuda,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, bias="none",
                             target_modules="all-linear", use_dora=cfg.dora, task_type="CAUSAL_LM")
    args = SFTConfig(
        output_dir=str(work),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        # micro-batches of similar length: far less padding (the order stays random between groups)
        train_sampling_strategy="group_by_length",
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,  # a float below 1 is a share of the total steps
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=2,
        logging_steps=5,
        report_to=[],
        seed=cfg.seed,
        # TRL's defaults (bf16, gradient checkpointing) are ~15x slower on a CPU without native bfloat16: bf16 only
        # where resolve_precision chose it, checkpointing only on a GPU (memory is not what is short on a CPU)
        bf16=precision == "bfloat16",
        activation_checkpointing=cuda,  # transformers 5's name for gradient checkpointing
        completion_only_loss=True,
        max_length=1024,
        prediction_loss_only=True,
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        use_cpu=not cuda,
    )
    # a resumed run's log starts with the earlier epochs' entries, from the checkpoint (they have no elapsed_s)
    prior = json.loads((last / "trainer_state.json").read_text()) if last else None
    log: list[dict[str, Any]] = [] if prior is None else [{"resumed_before": True, **e} for e in prior["log_history"]]

    class _Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001, ANN201
            if logs:
                log.append({"step": state.global_step, "epoch": state.epoch,
                            "elapsed_s": round(time.perf_counter() - t_start, 1), **logs})

    trainer = _make_trainer_class(cfg.label_weight)(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
                                    processing_class=tokenizer, peft_config=peft_config,
                                    callbacks=[_Log(), *(callbacks or [])])
    t_train = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    train_seconds = time.perf_counter() - t_train
    resumed_step = prior["global_step"] if prior else None
    resumed_epochs = float(prior["epoch"]) if prior else 0.0
    epochs_logged = [e for e in log if "eval_loss" in e]  # one per epoch (before the final evaluation below)
    eval_metrics = trainer.evaluate()  # the best checkpoint, reloaded at the end of training

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.model.save_pretrained(tmp)  # adapter_config.json + adapter_model.safetensors (best checkpoint)
    _to_bf16(tmp / "adapter_model.safetensors")
    data_sha = record["data_sha256"]
    manifest = {
        "formwhy_version": __version__,
        "kind": "lora-adapter",
        "base_model": cfg.base,
        "base_source": str(resolve(cfg.base)) if cfg.base not in ("gemma3-270m", "smollm2-135m") else
        f"formwhy models pull {cfg.base}",
        "prompt_version": PROMPT_VERSION,
        "max_event_lines": cfg.max_lines,
        "digit_token_ids": digits,
        "training": {**asdict(cfg), "quant": quant, "precision": precision, "device": "cuda" if cuda else "cpu",
                     "effective_batch": cfg.batch_size * cfg.grad_accum, "n_train": len(train_ex),
                     "n_validation": len(val_ex), "threads": torch.get_num_threads(),
                     "machine": platform.machine(), "torch": torch.__version__, "data_sha256": data_sha},
        "metrics": {"best_eval_loss": trainer.state.best_metric, "final_eval_loss": eval_metrics.get("eval_loss"),
                    "train_loss": result.training_loss, "train_seconds": round(train_seconds, 1),
                    "seconds_per_epoch": round(train_seconds / max(cfg.epochs - resumed_epochs, 1e-9), 1),
                    # a resumed run: the step it continued from; train_seconds counts this process only
                    "resumed_from_step": resumed_step,
                    # the step whose checkpoint was kept (the checkpoint folders are deleted below)
                    "best_step": trainer.state.best_global_step,
                    "eval_loss_by_epoch": [e["eval_loss"] for e in epochs_logged]},
        "temperature": None,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (tmp / "README.md").write_text(model_card(manifest))  # replaces PEFT's empty template (and its local paths)
    (tmp / "training_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    shutil.rmtree(work, ignore_errors=True)
    manifest["metrics"]["total_seconds"] = round(time.perf_counter() - t_start, 1)
    return manifest


def model_card(manifest: dict[str, Any]) -> str:
    t, m = manifest["training"], manifest["metrics"]
    resumed = f", the part resumed from step {m['resumed_from_step']} only" if m.get("resumed_from_step") else ""
    return (f"# formwhy adapter: {manifest['base_model']} + LoRA\n\n"
            "Answers *why was this form abandoned?* with a class digit (1-6) on the first line, then a JSON object; "
            "the class probability is the softmax over the six digit tokens at the first answer position "
            "(`formwhy classify --backend llm --model THIS_DIR`).\n\n"
            f"* base: `{manifest['base_model']}` ({manifest['base_source']}); prompt `{manifest['prompt_version']}`\n"
            f"* LoRA r={t['lora_r']}, alpha={t['lora_alpha']}, dropout {t['lora_dropout']}, all linear layers, "
            f"DoRA {t['dora']}, quantization {t['quant']}, precision {t.get('precision', 'float32')}\n"
            f"* {t['epochs']:g} epochs on {t['n_train']} examples of `{t['train']}` (sha256 "
            f"{t['data_sha256']['train'][:12]}...), effective batch {t['effective_batch']}, lr {t['learning_rate']}, "
            f"cosine; class-digit weight {t.get('label_weight', 1.0):g} in the answer loss; "
            f"{t.get('localize', 0.0):.0%} of the training traces renamed into another language and "
            f"{t.get('tab_switch', 0.0):.0%} given a brief tab switch (`formwhy.augment`); best checkpoint by "
            f"validation loss on {t['n_validation']} examples\n"
            f"* eval loss by epoch {[round(x, 4) for x in m['eval_loss_by_epoch']]}; "
            f"{m['train_seconds']:.0f} s on {t['device']} ({t['threads']} threads){resumed}\n"
            "* temperature: `formwhy calibrate` writes it into `formwhy.json` and `calibration.json`\n\n"
            "Training data: the file named above (labelled `formwhy.trace/v1` traces); a trace carries lengths, never "
            "a typed value.\n")


def _to_bf16(path: Path) -> None:
    """Store the adapter in bf16 (half the size; LoRA deltas lose nothing that matters at this precision)."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    save_file({k: v.to(torch.bfloat16) for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def read_manifest(adapter_dir: Path | str) -> dict[str, Any]:
    path = Path(adapter_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{adapter_dir}: no {MANIFEST} (not a formwhy adapter; train one with "
                                "`formwhy train llm`)")
    return json.loads(path.read_text())


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 16))


__all__ = ["TrainConfig", "answer_only_loss", "digit_token_ids", "read_manifest", "train"]
