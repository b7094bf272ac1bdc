"""``formwhy export``: check a LoRA adapter against a serving target's rules, then write what that target loads.

Every target is validated first; an adapter that the target would reject (or, worse, load wrongly) is refused with
the reason, before anything is written.

* ``vllm``: vLLM's ``peft_helper.py`` rejects DoRA (``use_dora``), ``modules_to_save`` and any ``bias`` other
  than ``"none"``, and a rank above the server's ``--max-lora-rank``. Writes the PEFT folder (+ manifest) with
  ``base_model_name_or_path`` set to the Hugging Face id of the base.
* ``workers-ai``: Cloudflare's bring-your-own-LoRA rules: rank <= 32 (8 recommended), a file under 300 MB,
  exactly ``adapter_config.json`` + ``adapter_model.safetensors`` in the folder, ``"model_type"`` of gemma, mistral
  or llama in ``adapter_config.json``, a base model from its LoRA catalog (non-quantized), and no DoRA (not
  documented, so refused). formwhy's own bases (Gemma 3 270M, SmolLM2) are not in that catalog: an adapter must
  have been trained on the Hugging Face base of the catalog model named by ``--workers-base``.
* ``llamacpp``: a GGUF LoRA made by llama.cpp's ``convert_lora_to_gguf.py`` (DoRA does not convert). The script
  ships only in the llama-cpp-python source distribution; :func:`find_converter` looks in
  ``$FORMWHY_LLAMA_CPP_DIR``, then ``~/.cache/formwhy/llama.cpp``, and can fetch it with
  ``pip download --no-binary :all: --no-deps llama-cpp-python==0.3.36``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

TARGETS = ("vllm", "llamacpp", "workers-ai")
CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
MANIFEST = "formwhy.json"
VLLM_DEFAULT_MAX_LORA_RANK = 16
WORKERS_MAX_RANK = 32
WORKERS_MAX_BYTES = 300 * 1000 * 1000
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
GGUF_LORA = "formwhy-lora.gguf"

# formwhy base name -> Hugging Face id (what vLLM serves and what adapter configs should name)
HF_BASE = {"gemma3-270m": "google/gemma-3-270m", "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}

# Workers AI LoRA catalog: model -> (model_type for adapter_config.json, the Hugging Face base it was made from)
WORKERS_CATALOG = {
    "@cf/google/gemma-2b-it-lora": ("gemma", "google/gemma-2b-it"),
    "@cf/google/gemma-7b-it-lora": ("gemma", "google/gemma-7b-it"),
    "@cf/mistral/mistral-7b-instruct-v0.2-lora": ("mistral", "mistralai/Mistral-7B-Instruct-v0.2"),
    "@cf/meta-llama/llama-2-7b-chat-hf-lora": ("llama", "meta-llama/Llama-2-7b-chat-hf"),
}
WORKERS_MODEL_TYPES = ("gemma", "mistral", "llama")
# formwhy base name -> Workers AI catalog model (none of formwhy's bases is in the catalog today)
WORKERS_BASE_FOR: dict[str, str] = {}


class ExportRefused(ValueError):
    """The adapter breaks the target's rules. ``problems`` lists each reason."""

    def __init__(self, target: str, adapter: Path | str, problems: list[str]) -> None:
        self.target = target
        self.problems = problems
        super().__init__(f"{adapter}: cannot export to {target}:\n  - " + "\n  - ".join(problems))


def read_adapter(adapter_dir: Path | str) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """(adapter_config.json, formwhy.json or None, problems with the folder itself)."""
    d = Path(adapter_dir)
    if not d.is_dir():
        return {}, None, [f"{d} is not a folder (train an adapter with `formwhy train llm`)"]
    problems = []
    config: dict[str, Any] = {}
    if not (d / CONFIG).exists():
        problems.append(f"no {CONFIG} in {d}")
    else:
        try:
            config = json.loads((d / CONFIG).read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{CONFIG} does not parse: {exc}")
    if not (d / WEIGHTS).exists():
        other = [p.name for p in d.glob("adapter_model.*")]
        problems.append(f"no {WEIGHTS} in {d}" + (f" (found {', '.join(other)}: save with safetensors)" if other
                                                   else ""))
    manifest = None
    if (d / MANIFEST).exists():
        try:
            manifest = json.loads((d / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{MANIFEST} does not parse: {exc}")
    if config and str(config.get("peft_type", "LORA")).upper() != "LORA":
        problems.append(f"peft_type is {config.get('peft_type')!r}, not LORA")
    return config, manifest, problems


def ranks(config: dict[str, Any]) -> list[int]:
    """Every rank the adapter uses (``r`` and the per-module ``rank_pattern`` overrides)."""
    out = [int(config.get("r", 8))]
    out += [int(v) for v in (config.get("rank_pattern") or {}).values()]
    return out


def _common(config: dict[str, Any], target: str, dora_why: str) -> list[str]:
    problems = []
    if config.get("use_dora"):
        problems.append(f"the adapter is DoRA (use_dora: true): {dora_why}; retrain without --dora")
    return problems


def check_vllm(adapter_dir: Path | str, max_lora_rank: int = VLLM_DEFAULT_MAX_LORA_RANK) -> list[str]:
    config, _, problems = read_adapter(adapter_dir)
    if not config:
        return problems
    problems += _common(config, "vllm", 'vLLM rejects it ("vLLM does not yet support DoRA")')
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save is {config['modules_to_save']!r}: vLLM does not load extra full modules; "
                        "retrain with modules_to_save=None")
    if config.get("bias", "none") != "none":
        problems.append(f"bias is {config.get('bias')!r}: vLLM supports only bias 'none'")
    r = max(ranks(config))
    if r > max_lora_rank:
        problems.append(f"rank {r} is above --max-lora-rank {max_lora_rank}: serve with --max-lora-rank {r} "
                        "(vLLM allows 8, 16, 32, 64, ...) or retrain with a smaller rank")
    return problems


def _adapter_hf_base(config: dict[str, Any], manifest: dict[str, Any] | None) -> str:
    base = (manifest or {}).get("base_model") or config.get("base_model_name_or_path") or ""
    return HF_BASE.get(base, base)


def workers_model_for(config: dict[str, Any], manifest: dict[str, Any] | None,
                      workers_base: str | None) -> tuple[str | None, list[str]]:
    """(the catalog model, problems) for an adapter, given ``--workers-base`` (or None)."""
    hf_base = _adapter_hf_base(config, manifest)
    catalog = ", ".join(WORKERS_CATALOG)
    if workers_base is None:
        formwhy_base = (manifest or {}).get("base_model", "")
        if formwhy_base in WORKERS_BASE_FOR:
            return WORKERS_BASE_FOR[formwhy_base], []
        return None, [f"the base model {hf_base or '(unknown)'!r} is not in Workers AI's LoRA catalog ({catalog}); "
                      "train an adapter on one of those bases and name it with --workers-base"]
    if workers_base not in WORKERS_CATALOG:
        return None, [f"--workers-base {workers_base!r} is not a Workers AI LoRA base model; choose one of {catalog}"]
    want = WORKERS_CATALOG[workers_base][1]
    if hf_base.rstrip("/").lower() != want.lower() and not hf_base.rstrip("/").lower().endswith(
            "/" + want.split("/")[-1].lower()):
        return None, [f"the adapter was trained on {hf_base or '(unknown)'!r}, but {workers_base} is {want}: a LoRA "
                      "only works on the base it was trained on"]
    return workers_base, []


def check_workers_ai(adapter_dir: Path | str, workers_base: str | None = None) -> list[str]:
    config, manifest, problems = read_adapter(adapter_dir)
    if not config:
        return problems
    problems += _common(config, "workers-ai", "Workers AI documents plain LoRA only")
    r = max(ranks(config))
    if r > WORKERS_MAX_RANK:
        problems.append(f"rank {r} is above Workers AI's limit of {WORKERS_MAX_RANK} (8 recommended)")
    weights = Path(adapter_dir) / WEIGHTS
    if weights.exists() and weights.stat().st_size >= WORKERS_MAX_BYTES:
        problems.append(f"{WEIGHTS} is {weights.stat().st_size / 1e6:.0f} MB; Workers AI takes files under 300 MB")
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save is {config['modules_to_save']!r}: Workers AI takes LoRA matrices only")
    model, base_problems = workers_model_for(config, manifest, workers_base)
    problems += base_problems
    mt = config.get("model_type")
    if mt is not None and mt not in WORKERS_MODEL_TYPES:
        problems.append(f"adapter_config.json model_type is {mt!r}; Workers AI needs one of "
                        f"{', '.join(WORKERS_MODEL_TYPES)}")
    elif mt is not None and model is not None and mt != WORKERS_CATALOG[model][0]:
        problems.append(f"adapter_config.json model_type {mt!r} does not match {model} "
                        f"({WORKERS_CATALOG[model][0]})")
    return problems


def check_llamacpp(adapter_dir: Path | str) -> list[str]:
    config, manifest, problems = read_adapter(adapter_dir)
    if not config:
        return problems
    problems += _common(config, "llamacpp", "convert_lora_to_gguf.py cannot convert lora_magnitude_vector")
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save is {config['modules_to_save']!r}: a GGUF LoRA holds LoRA matrices only")
    return problems


def check(target: str, adapter_dir: Path | str, *, max_lora_rank: int = VLLM_DEFAULT_MAX_LORA_RANK,
          workers_base: str | None = None) -> list[str]:
    if target == "vllm":
        return check_vllm(adapter_dir, max_lora_rank)
    if target == "workers-ai":
        return check_workers_ai(adapter_dir, workers_base)
    if target == "llamacpp":
        return check_llamacpp(adapter_dir)
    raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")


# -- llama.cpp's converter --------------------------------------------------------------------------------------

def converter_dir() -> Path:
    from formwhy.llm.models import cache_root

    return cache_root().parent / "llama.cpp"


def find_converter(fetch: bool = False) -> Path:
    """The folder holding ``convert_lora_to_gguf.py`` (+ ``convert_hf_to_gguf.py``, ``conversion/``,
    ``gguf-py/``); with ``fetch``, download the llama-cpp-python sdist and keep those pieces in the cache."""
    for d in (os.environ.get("FORMWHY_LLAMA_CPP_DIR"), converter_dir()):
        if d and (Path(d) / "convert_lora_to_gguf.py").exists():
            return Path(d)
    if not fetch:
        raise FileNotFoundError(
            "llama.cpp's convert_lora_to_gguf.py was not found (it ships only in the llama-cpp-python sdist): "
            "rerun with --fetch-converter, or set FORMWHY_LLAMA_CPP_DIR to a llama.cpp checkout")
    target = converter_dir()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        LLAMA_CPP_PYTHON, "-d", tmp], check=True)
        (sdist,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        (src,) = Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp")
        target.mkdir(parents=True, exist_ok=True)
        for name in ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "LICENSE"):
            shutil.copy2(src / name, target / name)
        for name in ("gguf-py", "conversion"):
            if (src / name).exists():
                shutil.copytree(src / name, target / name, dirs_exist_ok=True)
    return target


def convert_lora_command(adapter_dir: Path, base_dir: Path, outfile: Path, converter: Path) -> list[str]:
    return [sys.executable, str(converter / "convert_lora_to_gguf.py"), "--base", str(base_dir), "--outfile",
            str(outfile), "--outtype", "f32", str(adapter_dir)]


def to_gguf_lora(adapter_dir: Path | str, outfile: Path | str, *, base_dir: Path | str | None = None,
                 fetch: bool = False) -> Path:
    """Convert a PEFT LoRA to a GGUF LoRA for llama.cpp (``--lora`` / ``lora_path``)."""
    adapter_dir, outfile = Path(adapter_dir), Path(outfile)
    problems = check_llamacpp(adapter_dir)
    if problems:
        raise ExportRefused("llamacpp", adapter_dir, problems)
    if base_dir is None:
        from formwhy.llm.models import resolve

        config, manifest, _ = read_adapter(adapter_dir)
        base = (manifest or {}).get("base_model") or config.get("base_model_name_or_path")
        base_dir = Path(str(resolve(base))) if base else None
        if base_dir is None or not (base_dir / "config.json").exists():
            raise ExportRefused("llamacpp", adapter_dir, [f"the base model's saved Hugging Face folder {base_dir} "
                                                          "is missing (run `formwhy models pull`)"])
    converter = find_converter(fetch=fetch)
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(converter / "gguf-py"), str(converter)])}
    outfile.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(convert_lora_command(adapter_dir, Path(base_dir), outfile, converter), env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not outfile.exists():
        tail = (proc.stderr or proc.stdout)[-1500:]
        raise RuntimeError(f"convert_lora_to_gguf.py failed (exit {proc.returncode}):\n{tail}")
    return outfile


# -- export -----------------------------------------------------------------------------------------------------

def _fresh_out(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} exists and is not empty (pass --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def export(target: str, adapter_dir: Path | str, out: Path | str, *, max_lora_rank: int = VLLM_DEFAULT_MAX_LORA_RANK,
           workers_base: str | None = None, force: bool = False, fetch_converter: bool = False) -> dict[str, Any]:
    """Validate, then write the target's files into ``out``. Returns {files, next (the command to run next)}."""
    adapter_dir, out = Path(adapter_dir), Path(out)
    problems = check(target, adapter_dir, max_lora_rank=max_lora_rank, workers_base=workers_base)
    if problems:
        raise ExportRefused(target, adapter_dir, problems)
    config, manifest, _ = read_adapter(adapter_dir)
    _fresh_out(out, force)
    if target == "vllm":
        hf_base = _adapter_hf_base(config, manifest)
        (out / CONFIG).write_text(json.dumps({**config, "base_model_name_or_path": hf_base}, indent=2) + "\n")
        shutil.copy2(adapter_dir / WEIGHTS, out / WEIGHTS)
        if manifest is not None:
            shutil.copy2(adapter_dir / MANIFEST, out / MANIFEST)
        rank = max(ranks(config))
        cmd = (f"vllm serve {hf_base} --enable-lora --lora-modules formwhy={out} --max-lora-rank "
               f"{max(max_lora_rank, rank)} --max-logprobs 20")
        return {"files": sorted(p.name for p in out.iterdir()), "next": cmd}
    if target == "workers-ai":
        model, _ = workers_model_for(config, manifest, workers_base)
        assert model is not None
        cfg = dict(config)
        cfg.setdefault("model_type", WORKERS_CATALOG[model][0])
        (out / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
        shutil.copy2(adapter_dir / WEIGHTS, out / WEIGHTS)
        return {"files": sorted(p.name for p in out.iterdir()), "model": model,
                "next": f"deploy/cloudflare/upload.sh {model} formwhy {out}"}
    gguf = to_gguf_lora(adapter_dir, out / GGUF_LORA, fetch=fetch_converter)
    if manifest is not None:
        shutil.copy2(adapter_dir / MANIFEST, out / MANIFEST)
    return {"files": sorted(p.name for p in out.iterdir()),
            "next": f"python -m llama_cpp.server --model <base.gguf> --lora_path {gguf} --host 127.0.0.1 --port 8080"}
