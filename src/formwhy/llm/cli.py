"""Command-line parts of the LLM path: ``formwhy models ...`` and ``formwhy train llm``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from formwhy.llm.models import DEFAULT_BASE, KNOWN, ModelError, cache_root, cached_dir
from formwhy.llm.train import TrainConfig

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

models_app = typer.Typer(help="Prepare and list base models (offline; cached as safetensors).", no_args_is_help=True)

DEFAULT_ADAPTER = Path("adapters/gemma3-270m-formwhy")


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help=f"{', '.join(KNOWN)}, a local Hugging Face directory or a hub id.")
                    ] = DEFAULT_BASE,
    force: Annotated[bool, typer.Option(help="Prepare again even if the cache is ready.")] = False,
) -> None:
    """Prepare a base model offline and cache it (safetensors + tokenizer) so later loads take seconds."""
    from formwhy.llm.models import pull

    try:
        path = pull(name, force=force)
    except ModelError as exc:
        _fail(str(exc))
    console.print(str(path))


@models_app.command("converter")
def models_converter() -> None:
    """Fetch llama.cpp's LoRA-to-GGUF converter into the cache (once; from the llama-cpp-python source
    distribution on PyPI) so that `formwhy export --target llamacpp` works offline afterwards."""
    from formwhy.export import find_converter

    try:
        path = find_converter(fetch=True)
    except Exception as exc:  # noqa: BLE001 - pip or the archive failed: say what and stop
        _fail(f"could not fetch llama.cpp's converter: {exc}")
    console.print(str(path))


@models_app.command("list")
def models_list() -> None:
    """The known base models and whether they are cached."""
    from formwhy.llm.models import _is_ready

    for name, spec in KNOWN.items():
        state = "ready" if _is_ready(cached_dir(name)) else "not pulled"
        console.print(f"{name:14} {state:11} PyPI package {spec.package} ({spec.install_hint})")
    console.print(f"cache: {cache_root()} (set FORMWHY_HOME to move it)")


_CFG = TrainConfig()  # the one set of training defaults (`formwhy train llm` and the Python API share it)


def train_llm(
    train: Annotated[Path, typer.Option(help="Labelled training JSONL.")] = Path(_CFG.train),
    validation: Annotated[Path, typer.Option(help="Labelled validation JSONL (best checkpoint by its loss).")
                          ] = Path(_CFG.validation),
    out: Annotated[Path, typer.Option(help="Adapter directory to write.")] = DEFAULT_ADAPTER,
    base: Annotated[str, typer.Option(help="Base model: a known name, a local directory or a hub id.")
                    ] = _CFG.base,
    epochs: Annotated[float, typer.Option(help="Training epochs.")] = _CFG.epochs,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = _CFG.learning_rate,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank r.")] = _CFG.lora_r,
    alpha: Annotated[int, typer.Option("--alpha", help="LoRA alpha.")] = _CFG.lora_alpha,
    dora: Annotated[bool, typer.Option("--dora", help="DoRA instead of plain LoRA (does not export to vLLM).")
                    ] = _CFG.dora,
    quant: Annotated[str, typer.Option(help="auto (4-bit NF4 QLoRA on CUDA where bitsandbytes is installed, none "
                                            "on a CPU), 4bit (QLoRA; also runs on a CPU, slower) or none.")
                     ] = _CFG.quant,
    precision: Annotated[str, typer.Option(help="auto (bfloat16 mixed precision on CUDA, float32 on a CPU), "
                                                "float32 or bfloat16 (on a CPU only worth trying with AMX; see "
                                                "bench/experiments/README.md).")] = _CFG.precision,
    batch_size: Annotated[int, typer.Option(help="Per-device batch; effective batch = this x --grad-accum.")
                          ] = _CFG.batch_size,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = _CFG.grad_accum,
    max_examples: Annotated[int | None, typer.Option(help="Use only the first N training examples (a quick try)."
                                                     )] = _CFG.max_examples,
    max_val_examples: Annotated[int | None, typer.Option(help="Use only the first N validation examples.")
                                ] = _CFG.max_val_examples,
    seed: Annotated[int, typer.Option(help="Random seed.")] = _CFG.seed,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch (default: all cores).")] = _CFG.threads,
    label_weight: Annotated[float, typer.Option(help="How many times the class digit counts in the answer loss "
                                                     "(10, as the shipped adapter; 1 = plain cross-entropy; the "
                                                     "validation loss uses it too).")] = _CFG.label_weight,
    localize: Annotated[float, typer.Option(help="Share of training traces whose click targets and generic fields "
                                                 "are renamed into another language (formwhy.augment; 0 = off).")
                        ] = _CFG.localize,
    tab_switch: Annotated[float, typer.Option(help="Share of training traces given a brief tab switch mid-session "
                                                   "(formwhy.augment; 0 = off).")] = _CFG.tab_switch,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from the last epoch's "
                                                          "checkpoint in OUT.checkpoints (same options and data "
                                                          "required, checked).")] = False,
) -> None:
    """Fine-tune a base model with LoRA (QLoRA on a GPU) to answer with the class digit, then JSON.

    A checkpoint is saved at the end of every epoch in OUT.checkpoints; after an interruption, the same command
    with --resume continues from it."""
    from formwhy.dataset import DatasetError, refuse_test_set
    from formwhy.llm.train import checkpoint_dir, last_checkpoint
    from formwhy.llm.train import train as run_train

    try:
        refuse_test_set(train, "train")
        refuse_test_set(validation, "validate")
    except DatasetError as exc:
        _fail(str(exc))
    for path in (train, validation):
        if not path.exists():
            _fail(f"{path}: no such file (run `formwhy data build` first)")
    if epochs <= 0 or rank < 1 or alpha < 1 or batch_size < 1 or grad_accum < 1:
        _fail("--epochs, --rank, --alpha, --batch-size and --grad-accum must be positive")
    cfg = TrainConfig(train=str(train), validation=str(validation), out=str(out), base=base, epochs=epochs,
                      learning_rate=lr, lora_r=rank, lora_alpha=alpha, dora=dora, quant=quant, precision=precision,
                      batch_size=batch_size, grad_accum=grad_accum, max_examples=max_examples,
                      max_val_examples=max_val_examples, seed=seed, threads=threads, label_weight=label_weight,
                      localize=localize, tab_switch=tab_switch)
    try:
        manifest = run_train(cfg, resume=resume)
    except (ValueError, DatasetError, ModelError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        last = last_checkpoint(checkpoint_dir(out))
        _fail("interrupted; " + (f"the last epoch's checkpoint is {last}: the same command with --resume "
                                 "continues from it" if last else "no epoch had finished, so nothing was saved"),
              code=130)
    console.print(json.dumps(manifest["metrics"], indent=2))
    console.print(f"adapter written to {out} (next: formwhy calibrate --backend llm --model {out})")
