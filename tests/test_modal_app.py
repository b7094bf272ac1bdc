"""deploy/modal_app.py: the Modal functions carry the intended GPU, volumes, timeouts and commands (no network)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

modal = pytest.importorskip("modal", reason="the Modal SDK is not installed (pip install modal)")

APP_FILE = Path(__file__).resolve().parent.parent / "deploy" / "modal_app.py"


@pytest.fixture(scope="module")
def m():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("formwhy_modal_app", APP_FILE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def impl(fn):  # noqa: ANN001, ANN201
    """The SDK's underlying function object (Modal wraps it with synchronicity)."""
    inner = [v for k, v in vars(fn).items() if k.startswith("_sync_original")]
    assert inner, "Modal's Function wrapper changed; update this helper"
    return inner[0]


def test_app_and_functions(m) -> None:  # noqa: ANN001
    assert m.app.name == "formwhy"
    assert isinstance(m.train, modal.Function) and isinstance(m.serve, modal.Function)


def test_train_function(m) -> None:  # noqa: ANN001
    info = impl(m.train)._function_info
    assert info.gpus == [("L4", 1)]
    assert info.timeout == 3600
    assert list(info.volumes) == ["/vol"] and info.volumes["/vol"].name == "formwhy"


def test_serve_function(m) -> None:  # noqa: ANN001
    f = impl(m.serve)
    info = f._function_info
    assert info.gpus == [("L4", 1)]
    assert info.concurrency_info.max_inputs == 32
    assert info.volumes["/vol"].name == "formwhy"
    assert f._webhook_config.web_server_port == 8000
    assert f._webhook_config.web_server_startup_timeout == 600


def test_commands(m) -> None:  # noqa: ANN001
    assert m.train_command() == [
        "formwhy", "train", "llm", "--quant", "4bit", "--train", "/vol/data/train.jsonl", "--validation",
        "/vol/data/validation.jsonl", "--out", "/vol/adapters/gemma3-270m-formwhy", "--epochs", "3.0", "--rank", "16"]
    assert m.export_command() == ["formwhy", "export", "--target", "vllm", "--model",
                                  "/vol/adapters/gemma3-270m-formwhy", "--out",
                                  "/vol/adapters/gemma3-270m-formwhy-vllm", "--max-lora-rank", "16", "--force"]
    cmd = m.vllm_command()
    assert cmd[:3] == ["vllm", "serve", "/vol/formwhy-home/models/gemma3-270m"]
    joined = " ".join(cmd)
    for part in ("--enable-lora", "--lora-modules formwhy=/vol/adapters/gemma3-270m-formwhy-vllm",
                 "--max-lora-rank 16", "--max-logprobs 20", "--port 8000", "--host 0.0.0.0"):
        assert part in joined


def test_the_exported_adapter_passes_the_same_rank_limit(m) -> None:  # noqa: ANN001
    """The server's --max-lora-rank and the export check agree (a rank-16 adapter is served)."""
    from formwhy.export import VLLM_DEFAULT_MAX_LORA_RANK

    assert m.MAX_LORA_RANK == VLLM_DEFAULT_MAX_LORA_RANK


def test_commands_are_real_cli_commands(m) -> None:  # noqa: ANN001
    """The formwhy commands the Modal app runs parse with this formwhy's CLI (--help on each subcommand)."""
    from typer.testing import CliRunner

    from formwhy.cli import app

    for cmd in (m.train_command(), m.export_command(), m.pull_command()):
        words = [w for w in cmd[1:] if not w.startswith("-")][:2]
        sub = words if words[0] in ("train", "models") else words[:1]
        res = CliRunner().invoke(app, [*sub, "--help"])
        assert res.exit_code == 0, (cmd, res.output)
        for opt in (w for w in cmd if w.startswith("--")):
            assert opt in res.output, (opt, cmd)
