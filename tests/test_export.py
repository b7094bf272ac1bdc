"""``formwhy export``: every refusal (with its reason), and what each target gets written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from formwhy.cli import app
from formwhy.export import (
    CONFIG,
    WEIGHTS,
    ExportRefused,
    check,
    check_llamacpp,
    check_vllm,
    check_workers_ai,
    export,
)

BASE_CONFIG = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
               "bias": "none", "use_dora": False, "modules_to_save": None, "target_modules": ["q_proj", "v_proj"],
               "base_model_name_or_path": "/root/.cache/formwhy/models/gemma3-270m", "rank_pattern": {}}


def make_adapter(path: Path, weights_bytes: int = 64, manifest_base: str | None = "gemma3-270m",
                 **overrides) -> Path:  # noqa: ANN003
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG).write_text(json.dumps({**BASE_CONFIG, **overrides}))
    with open(path / WEIGHTS, "wb") as f:
        f.truncate(weights_bytes)  # sparse: a "300 MB" file costs no disk
    if manifest_base is not None:
        (path / "formwhy.json").write_text(json.dumps({"base_model": manifest_base, "digit_token_ids": [1, 2]}))
    return path


def test_a_plain_adapter_passes_vllm_and_llamacpp(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a")
    assert check_vllm(a) == [] and check_llamacpp(a) == []


@pytest.mark.parametrize("target", ["vllm", "llamacpp", "workers-ai"])
def test_dora_is_refused_everywhere(tmp_path, target) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a", use_dora=True)
    problems = check(target, a, workers_base="@cf/google/gemma-2b-it-lora")
    assert any("DoRA" in p and "retrain without --dora" in p for p in problems), problems
    with pytest.raises(ExportRefused, match="DoRA"):
        export(target, a, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written


def test_vllm_rank_above_max_lora_rank(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a", r=64)
    (p,) = check_vllm(a, max_lora_rank=16)
    assert "rank 64 is above --max-lora-rank 16" in p
    assert check_vllm(a, max_lora_rank=64) == []
    b = make_adapter(tmp_path / "b", rank_pattern={"model.layers.0.self_attn.q_proj": 32})
    assert "rank 32" in check_vllm(b)[0]


def test_vllm_bias_and_modules_to_save(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a", bias="lora_only", modules_to_save=["lm_head"])
    problems = check_vllm(a)
    assert any("bias is 'lora_only'" in p for p in problems)
    assert any("modules_to_save is ['lm_head']" in p for p in problems)


def test_missing_files(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a")
    (a / WEIGHTS).unlink()
    (a / "adapter_model.bin").write_bytes(b"x")
    assert any("no adapter_model.safetensors" in p and "adapter_model.bin" in p for p in check_vllm(a))
    (a / CONFIG).unlink()
    assert any("no adapter_config.json" in p for p in check_workers_ai(a))
    assert "not a folder" in check_llamacpp(tmp_path / "nope")[0]


def test_workers_ai_refuses_formwhy_bases_and_names_the_catalog(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a", r=8)
    (p,) = check_workers_ai(a)
    assert "'google/gemma-3-270m' is not in Workers AI's LoRA catalog" in p and "@cf/google/gemma-2b-it-lora" in p
    (p,) = check_workers_ai(a, "@cf/google/gemma-2b-it-lora")
    assert "trained on 'google/gemma-3-270m', but @cf/google/gemma-2b-it-lora is google/gemma-2b-it" in p
    (p,) = check_workers_ai(a, "@cf/qwen/qwen1.5-7b")
    assert "not a Workers AI LoRA base model" in p


def test_workers_ai_export_on_a_catalog_base_adds_model_type(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a", r=8, manifest_base=None, base_model_name_or_path="google/gemma-2b-it")
    res = export("workers-ai", a, tmp_path / "out", workers_base="@cf/google/gemma-2b-it-lora")
    assert res["files"] == [CONFIG, WEIGHTS]  # exactly the two files
    assert json.loads((tmp_path / "out" / CONFIG).read_text())["model_type"] == "gemma"
    assert res["model"] == "@cf/google/gemma-2b-it-lora" and "upload.sh" in res["next"]


def test_workers_ai_rank_size_model_type(tmp_path) -> None:  # noqa: ANN001
    kw = {"manifest_base": None, "base_model_name_or_path": "mistralai/Mistral-7B-Instruct-v0.2"}
    base = "@cf/mistral/mistral-7b-instruct-v0.2-lora"
    assert check_workers_ai(make_adapter(tmp_path / "ok", r=32, **kw), base) == []
    assert "rank 64 is above Workers AI's limit of 32" in check_workers_ai(make_adapter(tmp_path / "r", r=64, **kw),
                                                                         base)[0]
    big = make_adapter(tmp_path / "big", r=8, weights_bytes=300_000_000, **kw)
    assert "300 MB; Workers AI takes files under 300 MB" in check_workers_ai(big, base)[0]
    wrong = make_adapter(tmp_path / "t", r=8, model_type="qwen2", **kw)
    assert "model_type is 'qwen2'" in check_workers_ai(wrong, base)[0]
    mismatch = make_adapter(tmp_path / "m", r=8, model_type="llama", **kw)
    assert "does not match" in check_workers_ai(mismatch, base)[0]
    mts = make_adapter(tmp_path / "s", r=8, modules_to_save=["embed_tokens"], **kw)
    assert "modules_to_save" in check_workers_ai(mts, base)[0]


def test_vllm_export_writes_the_peft_folder(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a")
    res = export("vllm", a, tmp_path / "out")
    assert res["files"] == [CONFIG, WEIGHTS, "formwhy.json"]
    assert json.loads((tmp_path / "out" / CONFIG).read_text())["base_model_name_or_path"] == "google/gemma-3-270m"
    assert res["next"].startswith("vllm serve google/gemma-3-270m --enable-lora --lora-modules formwhy=")
    with pytest.raises(FileExistsError):
        export("vllm", a, tmp_path / "out")
    export("vllm", a, tmp_path / "out", force=True)


def test_cli_export_refusal_and_success(tmp_path) -> None:  # noqa: ANN001
    a = make_adapter(tmp_path / "a", use_dora=True, r=64)
    res = CliRunner().invoke(app, ["export", "--target", "vllm", "--model", str(a), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "cannot export to vllm" in res.output and "DoRA" in res.output
    assert "rank 64" in res.output
    res = CliRunner().invoke(app, ["export", "--target", "tflite", "--model", str(a), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "--target must be one of" in res.output
    b = make_adapter(tmp_path / "b")
    res = CliRunner().invoke(app, ["export", "--target", "vllm", "--model", str(b), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "next: vllm serve" in res.output


def test_llamacpp_export_converts_a_real_lora_to_gguf(tmp_path) -> None:  # noqa: ANN001
    pytest.importorskip("peft")
    from formwhy.export import find_converter

    try:
        find_converter()
    except FileNotFoundError as exc:
        pytest.skip(f"llama.cpp's converter is not cached here: {exc}")
    gguf = pytest.importorskip("gguf")
    from llm_tiny import save_tiny_base
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base_dir = save_tiny_base(tmp_path / "base")
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                  task_type="CAUSAL_LM"))
    peft_model.save_pretrained(tmp_path / "ad")
    from formwhy.export import to_gguf_lora

    out = to_gguf_lora(tmp_path / "ad", tmp_path / "out" / "lora.gguf", base_dir=base_dir)
    reader = gguf.GGUFReader(str(out))
    names = [t.name for t in reader.tensors]
    assert names and all(n.endswith((".lora_a", ".lora_b")) for n in names)
    assert str(reader.fields["general.type"].contents()) == "adapter"
