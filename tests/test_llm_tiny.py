"""The LLM path on a tiny randomly initialised Gemma 3 (no large weights): loss, fast path, training, adapter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from llm_tiny import make_model, make_tokenizer, save_tiny_base, tiny_run  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from formwhy.answer import build_target  # noqa: E402
from formwhy.backends.base import BackendError  # noqa: E402
from formwhy.backends.llm_local import LocalLLM  # noqa: E402
from formwhy.build import build_simulated  # noqa: E402
from formwhy.llm.prompt import PREFIX, PROMPT_VERSION, build_prompt  # noqa: E402
from formwhy.llm.train import TrainConfig, answer_only_loss, digit_token_ids, read_manifest, train  # noqa: E402
from formwhy.taxonomy import NAMES  # noqa: E402
from formwhy.trace import example_traces  # noqa: E402


@pytest.fixture(scope="module")
def tok():  # noqa: ANN201
    return make_tokenizer()


@pytest.fixture(scope="module")
def model(tok):  # noqa: ANN001, ANN201
    return make_model(len(tok))


def test_digits_are_single_tokens(tok) -> None:  # noqa: ANN001
    ids = digit_token_ids(tok)
    assert len(set(ids)) == 6
    assert [tok.decode([i]) for i in ids] == ["1", "2", "3", "4", "5", "6"]


def test_answer_only_loss_equals_the_plain_loss(tok, model) -> None:  # noqa: ANN001
    traces = list(example_traces().values())[:3]
    rows, labels, plens = [], [], []
    for trace, label in zip(traces, ["price_shock", "account_wall", "trust_concern"], strict=True):
        p = tok.encode(build_prompt(trace), add_special_tokens=False)
        c = tok.encode(build_target(label, "because.", 0.7), add_special_tokens=False)
        rows.append(p + c)
        plens.append(len(p))
        labels.append([-100] * len(p) + c)
    L = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (L - len(r)) for r in rows])
    lab = torch.tensor([x + [-100] * (L - len(x)) for x in labels])
    mask = (torch.arange(L)[None] < torch.tensor([len(r) for r in rows])[:, None]).long()
    ours = answer_only_loss(model, ids, mask, lab)
    plain = model(input_ids=ids, attention_mask=mask, labels=lab).loss
    assert torch.allclose(ours, plain, atol=1e-5), (ours, plain)
    n = (lab[:, 1:] != -100).sum()
    assert torch.allclose(answer_only_loss(model, ids, mask, lab, num_items=n * 2), plain / 2, atol=1e-5)

    # label_weight=W counts each row's class digit W times: the plain sum plus (W - 1) x the digits' losses
    logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
    assert [tok.decode([r[k]]) for r, k in zip(rows, plens, strict=True)] == ["1", "2", "3"]  # answers start with it
    digit_nll = torch.stack([-logp[i, k - 1, rows[i][k]] for i, k in enumerate(plens)])
    weighted = answer_only_loss(model, ids, mask, lab, num_items=n, label_weight=5.0)
    assert torch.allclose(weighted, (plain * n + 4.0 * digit_nll.sum()) / n, atol=1e-4), weighted


def test_fast_path_equals_full_forward(tok, model) -> None:  # noqa: ANN001
    llm = LocalLLM(model, tok, digit_token_ids(tok), batch_size=4, format_health=True)
    assert llm.prefix_ok, "the prefix cache must be in use"
    traces = list(example_traces().values())
    prompts = [build_prompt(t) for t in traces]
    fast, inside = llm.digit_logits(prompts)  # one batch, different lengths, shared prefix cache
    for i, p in enumerate(prompts):
        full = llm.full_forward_digit_logits(p)
        np.testing.assert_allclose(fast[i], full, atol=1e-4, rtol=1e-4)
    # the cache is not consumed: a second call gives the same answer
    again, _ = llm.digit_logits(prompts[:2])
    np.testing.assert_allclose(again, fast[:2], atol=1e-5)
    assert inside is not None and np.all(inside <= 1e-6)
    preds = llm.predict(traces)
    one_by_one = [llm.predict([t])[0] for t in traces]  # batches are length-sorted; answers keep input order
    for a, b in zip(preds, one_by_one, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    for p in preds:
        assert p.probs.shape == (6,) and abs(p.probs.sum() - 1) < 1e-9
        assert 0.0 <= p.extra["outside_mass"] <= 1.0
        assert p.latency_ms > 0


def test_answers_generated_together_equal_one_at_a_time(tok, model) -> None:  # noqa: ANN001
    """Reasoning is generated for a batch's prompts together (left-padded): the same greedy text as one by one."""
    llm = LocalLLM(model, tok, digit_token_ids(tok), batch_size=6, max_new_tokens=24)
    traces = list(example_traces().values())
    prompts = [build_prompt(t) for t in traces]
    assert len({len(p) for p in prompts}) > 1, "prompts of different lengths, so the batch is padded"
    together = llm.generate_answers(prompts)
    assert together == [llm.generate_answer(p) for p in prompts]
    assert all(len(a) > 0 for a in together)
    preds = llm.predict(traces, reasoning=True)
    for pred, answer in zip(preds, together, strict=True):  # input order kept; each answer read or its error named
        assert pred.extra["reasoning_ms"] > 0
        assert (pred.verbalized is not None) != ("answer_error" in pred.extra), answer


def test_a_failed_generation_is_a_backend_error(tok, model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    llm = LocalLLM(model, tok, digit_token_ids(tok))

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("out of memory")

    monkeypatch.setattr(llm.model, "generate", boom)
    trace = next(iter(example_traces().values()))
    assert llm.predict([trace])[0].probs.shape == (6,)  # probabilities alone do not generate
    with pytest.raises(BackendError, match="generation failed: out of memory"):
        llm.predict([trace], reasoning=True)


@pytest.mark.parametrize(("option", "value"), [("localize", -0.1), ("localize", 1.5), ("tab_switch", float("nan"))])
def test_train_refuses_a_bad_augmentation_share(option: str, value: float, tmp_path: Path) -> None:
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ValueError, match=f"{flag} must be a share within"):
        train(TrainConfig(out=str(tmp_path / "never"), **{option: value}), progress=False)


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_train_refuses_a_bad_label_weight(weight: float, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--label-weight must be a positive number"):
        train(TrainConfig(out=str(tmp_path / "never"), label_weight=weight), progress=False)
    assert not (tmp_path / "never").exists()


def test_prefix_is_fixed_and_versioned() -> None:
    trace = example_traces()["distraction"]
    assert build_prompt(trace).startswith(PREFIX)
    assert build_prompt(trace).endswith("\nAnswer:\n")
    assert PROMPT_VERSION.startswith("formwhy-prompt-")


def test_train_tiny_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               caplog: pytest.LogCaptureFixture) -> None:
    base = save_tiny_base(tmp_path / "tiny-base")
    build_simulated(tmp_path / "data", n=60, n_val=12, n_test=6, seed=3)
    out = tmp_path / "adapter"
    manifest = train(TrainConfig(train=str(tmp_path / "data/train.jsonl"),
                                 validation=str(tmp_path / "data/validation.jsonl"), out=str(out), base=str(base),
                                 epochs=2, batch_size=4, grad_accum=2, max_examples=16, threads=1,
                                 label_weight=3.0),
                     progress=False)
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 16 and cfg["lora_alpha"] == 32 and cfg["use_dora"] is False
    kinds = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert {t.rsplit(".", 1)[-1] for t in cfg["target_modules"]} == kinds  # all linear layers, no lm_head
    m = read_manifest(out)
    assert m == manifest | {"metrics": m["metrics"]}
    assert m["prompt_version"] == PROMPT_VERSION and len(m["digit_token_ids"]) == 6
    assert m["training"]["effective_batch"] == 8 and m["training"]["quant"] == "none"
    assert m["training"]["label_weight"] == 3.0 and "class-digit weight 3 " in (out / "README.md").read_text()
    assert len(m["metrics"]["eval_loss_by_epoch"]) == 2
    assert m["metrics"]["best_eval_loss"] == min(m["metrics"]["eval_loss_by_epoch"])
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    per_epoch = [e for e in log if "eval_loss" in e][:len(m["metrics"]["eval_loss_by_epoch"])]  # not the re-check
    assert m["metrics"]["best_step"] == min(per_epoch, key=lambda e: e["eval_loss"])["step"]
    assert not out.with_name(out.name + ".checkpoints").exists()  # the best step is recorded, its folder is gone
    from safetensors.torch import load_file

    assert all(t.dtype == torch.bfloat16 for t in load_file(str(out / "adapter_model.safetensors")).values())
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = LocalLLM.from_adapter(out)
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]  # peft's, silenced on load
    preds = llm.predict(list(example_traces().values()))
    assert len(preds) == 6 and all(p.probs.shape == (6,) for p in preds)

    # calibrate writes calibration.json beside the adapter and the temperature into its manifest; evaluate with
    # --verbalized generates the answers and writes one prediction per example
    from typer.testing import CliRunner

    from formwhy.cli import app

    # bfloat16: the same answers to bf16 rounding; an unknown precision is refused by name
    l16 = LocalLLM.from_adapter(out, dtype="bfloat16")
    assert l16.dtype == "bfloat16" and llm.dtype == "float32"
    p16 = l16.predict(list(example_traces().values()))
    assert max(float(np.abs(a.probs - b.probs).max()) for a, b in zip(preds, p16, strict=True)) < 0.05
    with pytest.raises(BackendError, match="dtype must be one of float32, bfloat16, not 'float16'"):
        LocalLLM.from_adapter(out, dtype="float16")

    res = CliRunner().invoke(app, ["calibrate", "--backend", "llm", "--model", str(out), "--data",
                                   str(tmp_path / "data/validation.jsonl"), "--force", "--dtype", "bfloat16"])
    assert res.exit_code == 0, res.output
    m = read_manifest(out)
    assert m["inference_dtype"] == "bfloat16"  # T was fitted in bf16: the adapter is now served in bf16 ...
    import formwhy.backends.llm_local as llm_local

    monkeypatch.setattr(llm_local, "fast_bfloat16", lambda: True)
    assert LocalLLM.from_adapter(out).dtype == "bfloat16"
    monkeypatch.setattr(llm_local, "fast_bfloat16", lambda: False)  # ... where the CPU computes bf16 natively
    with caplog.at_level("WARNING", logger="formwhy.backends.llm_local"):
        assert LocalLLM.from_adapter(out).dtype == "float32"
    assert "no native bfloat16" in caplog.text and "serving in float32" in caplog.text
    assert LocalLLM.from_adapter(out, dtype="bfloat16").dtype == "bfloat16"  # asked for: served as asked
    cal = json.loads((out / "calibration.json").read_text())
    assert m["temperature"] == pytest.approx(cal["temperature"]["temperature"], rel=1e-5)
    n_val = len((tmp_path / "data/validation.jsonl").read_text().splitlines())
    assert m["calibration"]["n"] == n_val and len(m["calibration"]["data_sha256"]) == 64
    res = CliRunner().invoke(app, ["evaluate", "--backend", "llm", "--model", str(out), "--data",
                                   str(tmp_path / "data/test.jsonl"), "--out", str(tmp_path / "ev"), "--boot", "20",
                                   "--verbalized"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(len(r["raw"]) == 6 and r["predicted"] in NAMES for r in rows)
    assert all(abs(sum(r["calibrated"]) - 1) < 1e-4 for r in rows)
    # an answer that cannot be read says why, per row and counted in the metrics
    unread = [r["answer_error"] for r in rows if "verbalized" not in r]
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert sum(metrics["verbalized_unparsed"].values()) == len(unread)
    assert all(metrics["verbalized_unparsed"][reason] == unread.count(reason) for reason in unread)
    assert metrics["dtype"] == "float32"  # fast_bfloat16 is patched False here: the warning's fallback
    # --dtype runs the evaluation at the precision asked for, and records it
    res = CliRunner().invoke(app, ["evaluate", "--backend", "llm", "--model", str(out), "--data",
                                   str(tmp_path / "data/test.jsonl"), "--out", str(tmp_path / "ev16"), "--boot", "20",
                                   "--dtype", "bfloat16"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev16" / "metrics.json").read_text())["dtype"] == "bfloat16"
    res = CliRunner().invoke(app, ["evaluate", "--backend", "llm", "--model", str(out), "--data",
                                   str(tmp_path / "data/test.jsonl"), "--out", str(tmp_path / "ev8"),
                                   "--dtype", "int8"])
    assert res.exit_code == 1 and "dtype must be one of float32, bfloat16, not 'int8'" in res.output
    assert not (tmp_path / "ev8").exists()


class _StopAtFirstSave(TrainerCallback):
    """Interrupts training right after the first epoch's checkpoint is saved, as Ctrl-C would (``on_save`` runs
    once the checkpoint is on disk)."""

    def on_save(self, args, state, control, **kw):  # noqa: ANN001, ANN201
        raise KeyboardInterrupt


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    """Interrupt a two-epoch run after its first checkpoint, resume it, and get the adapter an uninterrupted run
    gives (optimizer, schedule and random state come back from the checkpoint); a resume with other options, other
    data or no checkpoint is refused by name, before any model is loaded."""
    from safetensors.torch import load_file

    from formwhy.llm.train import RUN_RECORD

    common = {**tiny_run(tmp_path, seed=5), "epochs": 2, "threads": 1}
    whole = train(TrainConfig(out=str(tmp_path / "whole"), **common), progress=False)

    out = tmp_path / "cut"
    work = out.with_name("cut.checkpoints")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(out), **common), progress=False, callbacks=[_StopAtFirstSave()])
    assert not out.exists() and (work / "checkpoint-2").is_dir() and (work / RUN_RECORD).exists()
    with pytest.raises(ValueError, match="different config.label_weight"):
        train(TrainConfig(out=str(out), **common | {"label_weight": 2.0}), progress=False, resume=True)
    saved = json.loads((work / RUN_RECORD).read_text())
    other = "float32" if saved["precision"] == "bfloat16" else "bfloat16"
    with pytest.raises(ValueError, match="different config.precision, precision;"):  # checkpoints made at another
        train(TrainConfig(out=str(out), **common | {"precision": other}), progress=False, resume=True)
    data = tmp_path / "data/train.jsonl"
    original = data.read_text()
    data.write_text("".join(reversed(original.splitlines(keepends=True))))  # same path, other traces first
    with pytest.raises(ValueError, match="different data_sha256, records_sha256;"):
        train(TrainConfig(out=str(out), **common), progress=False, resume=True)
    data.write_text(original)
    with pytest.raises(ValueError, match="no checkpoint in"):
        train(TrainConfig(out=str(tmp_path / "never"), **common), progress=False, resume=True)

    resumed = train(TrainConfig(out=str(out), **common), progress=False, resume=True)
    assert resumed["metrics"]["resumed_from_step"] == 2 and whole["metrics"]["resumed_from_step"] is None
    # the adapter's README says the time is the resumed part's, not the run's
    assert "the part resumed from step 2 only" in (out / "README.md").read_text()
    assert "resumed" not in (tmp_path / "whole" / "README.md").read_text()
    assert resumed["metrics"]["eval_loss_by_epoch"] == pytest.approx(whole["metrics"]["eval_loss_by_epoch"],
                                                                     rel=1e-4)
    assert resumed["metrics"]["best_step"] == whole["metrics"]["best_step"]
    a = load_file(str(tmp_path / "whole" / "adapter_model.safetensors"))
    b = load_file(str(out / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-3) for k in a)
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "eval_loss" in e][:2] == [2, 4]  # epoch 1 from the checkpoint, then epoch 2
    assert not work.exists()


def test_train_cli_resume_and_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`formwhy train llm --resume` with nothing to resume fails by name before a model is loaded (real training
    code, tiny base); Ctrl-C during training points to the last checkpoint and --resume (the training function is
    replaced by one that saves a checkpoint folder and is then interrupted: only the command's message is tested)."""
    from typer.testing import CliRunner

    import formwhy.llm.train as train_mod
    from formwhy.cli import app

    base = save_tiny_base(tmp_path / "tiny-base")
    build_simulated(tmp_path / "data", n=40, n_val=8, n_test=4, seed=6)
    args = ["train", "llm", "--train", str(tmp_path / "data/train.jsonl"), "--validation",
            str(tmp_path / "data/validation.jsonl"), "--base", str(base), "--out", str(tmp_path / "a")]
    res = CliRunner().invoke(app, [*args, "--resume"])
    assert res.exit_code == 1 and "--resume: no checkpoint in" in res.output and "a.checkpoints" in res.output

    def interrupted(cfg: TrainConfig, resume: bool = False) -> dict:
        for step in (9, 18):
            (tmp_path / "a.checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train", interrupted)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 130 and "interrupted; the last epoch's checkpoint is" in res.output
    assert "checkpoint-18" in res.output and "--resume" in res.output


def test_dora_switch_and_quant_guard(tmp_path: Path) -> None:
    common = tiny_run(tmp_path, seed=4)
    with pytest.raises(ValueError, match="--quant must be auto, 4bit or none, not '8bit'"):
        train(TrainConfig(out=str(tmp_path / "q"), quant="8bit", **common), progress=False)
    train(TrainConfig(out=str(tmp_path / "dora"), dora=True, **common), progress=False)
    assert json.loads((tmp_path / "dora" / "adapter_config.json").read_text())["use_dora"] is True


def test_qlora_trains_on_nf4_layers_and_the_adapter_serves(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`--quant 4bit` (QLoRA) end to end with the real bitsandbytes: every linear layer of the trunk is an NF4
    `Linear4bit` (double quantization) while training, the LoRA adapter is saved like a plain one, and the local backend
    serves it on the unquantized base. bitsandbytes' CPU backend stands in for CUDA here (no GPU on this machine or in
    CI; on a CPU it is slower than plain LoRA, and the run warns so); `auto` picks 4bit only on a CUDA GPU."""
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    common = tiny_run(tmp_path, seed=4)
    seen: list[tuple[str, bool]] = []

    class _Layers(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):  # noqa: ANN001, ANN201
            for name, module in model.named_modules():
                if name.endswith(("q_proj.base_layer", "down_proj.base_layer")):
                    seen.append((type(module).__name__, isinstance(module, bnb.nn.Linear4bit)
                                 and module.weight.quant_state.quant_type == "nf4"
                                 and module.weight.quant_state.nested))

    out = tmp_path / "qlora"
    with caplog.at_level("WARNING", logger="formwhy.llm.train"):
        m = train(TrainConfig(out=str(out), quant="4bit", **common), progress=False, callbacks=[_Layers()])
    if not torch.cuda.is_available():
        assert "--quant 4bit on a CPU" in caplog.text
    assert seen and all(ok for _, ok in seen), seen
    assert m["training"]["quant"] == "4bit" and "quantization 4bit" in (out / "README.md").read_text()
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 16 and {t.rsplit(".", 1)[-1] for t in cfg["target_modules"]} >= {"q_proj", "down_proj"}
    llm = LocalLLM.from_adapter(out)
    preds = llm.predict(list(example_traces().values()))
    assert len(preds) == 6 and all(p.probs.shape == (6,) and abs(p.probs.sum() - 1.0) < 1e-6 for p in preds)


def test_qlora_without_bitsandbytes_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from formwhy.llm.train import check_4bit_available

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    with pytest.raises(ValueError, match=r"needs bitsandbytes, which is not installed: pip install 'formwhy\[qlora\]"):
        check_4bit_available(cuda=True)


@pytest.mark.parametrize("precision", ["bfloat16", "float32"])
def test_training_runs_at_the_precision_asked_for(precision: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--precision bfloat16 computes the loss under bfloat16 autocast (float32 weights), float32 without it; the
    manifest and the model card say which (the run record's precision: the resume test)."""
    import formwhy.llm.train as train_mod

    seen: list[tuple[bool, object]] = []
    real_loss = train_mod.answer_only_loss

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_mod, "answer_only_loss", spy)
    out = tmp_path / "adapter"
    m = train(TrainConfig(out=str(out), precision=precision, **tiny_run(tmp_path, seed=5)), progress=False)
    assert len(seen) >= 2  # two training steps, then the evaluation's
    assert all(on == (precision == "bfloat16") for on, _ in seen)
    if precision == "bfloat16":
        assert all(dtype == torch.bfloat16 for _, dtype in seen)
    assert m["training"]["precision"] == precision and f"precision {precision}" in (out / "README.md").read_text()


def test_auto_precision_is_bfloat16_on_a_gpu_only(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """auto: float32 on every CPU, AMX included (stop 22's experiment rejected bfloat16 there)."""
    import formwhy.backends.llm_local as llm_local
    from formwhy.llm.train import resolve_precision

    for native in (True, False):
        monkeypatch.setattr(llm_local, "fast_bfloat16", lambda native=native: native)
        assert resolve_precision("auto", cuda=False) == "float32"
    with caplog.at_level("WARNING", logger="formwhy.llm.train"):
        assert resolve_precision("bfloat16", cuda=False) == "bfloat16"  # asked for by name: used, with a warning
    assert "emulated" in caplog.text
    caplog.clear()
    monkeypatch.setattr(llm_local, "fast_bfloat16", lambda: True)
    with caplog.at_level("WARNING", logger="formwhy.llm.train"):
        assert resolve_precision("bfloat16", cuda=False) == "bfloat16"
    assert "emulated" not in caplog.text  # native: no warning
    assert resolve_precision("auto", cuda=True) == "bfloat16"
    assert resolve_precision("float32", cuda=True) == "float32"
    with pytest.raises(ValueError, match="--precision must be auto, float32, bfloat16, not 'float16'"):
        resolve_precision("float16", cuda=False)


def test_the_training_defaults_are_the_shipped_adapters() -> None:
    """`formwhy train llm` with no options retrains the shipped adapter's configuration (no model is loaded). Only
    the training file differs: the shipped adapter was trained on the README's mix (the first 600 synthetic
    examples + `data/handwritten/train.jsonl`, `train-b.jsonl` and `train-c.jsonl`, written to
    `runs/s23-mix/train.jsonl`), the default is all of `data/synthetic/train.jsonl`."""
    from dataclasses import asdict

    shipped = Path(__file__).resolve().parents[1] / "adapters" / "gemma3-270m-formwhy" / "formwhy.json"
    if not shipped.exists():
        pytest.skip(f"no shipped adapter at {shipped}")
    used = json.loads(shipped.read_text())["training"]
    defaults = asdict(TrainConfig())
    handwritten = Path(__file__).resolve().parents[1] / "data" / "handwritten"
    assert used["train"] == "runs/s23-mix/train.jsonl"
    assert used["n_train"] == 600 + sum(len((handwritten / f).read_text().splitlines())
                                        for f in ("train.jsonl", "train-b.jsonl", "train-c.jsonl"))
    same = ("validation", "base", "epochs", "learning_rate", "lora_r", "lora_alpha", "lora_dropout", "dora",
            "batch_size", "grad_accum", "max_examples", "max_lines", "seed", "label_weight", "localize", "tab_switch")
    assert {k: used[k] for k in same} == {k: defaults[k] for k in same}
    import inspect

    from formwhy.llm.cli import train_llm

    cli = {k: v.default for k, v in inspect.signature(train_llm).parameters.items()}
    assert str(cli["train"]) == defaults["train"] == "data/synthetic/train.jsonl"
    as_cli = {"validation": "validation", "base": "base", "epochs": "epochs", "lr": "learning_rate",
              "rank": "lora_r", "alpha": "lora_alpha", "dora": "dora", "batch_size": "batch_size",
              "grad_accum": "grad_accum", "max_examples": "max_examples", "seed": "seed",
              "label_weight": "label_weight", "localize": "localize", "tab_switch": "tab_switch"}
    assert {c: (str(cli[c]) if c == "validation" else cli[c]) for c in as_cli} == \
        {c: used[k] for c, k in as_cli.items()}


def test_answers_must_start_with_the_class_digit(tok) -> None:  # noqa: ANN001
    from formwhy.llm.train import check_answers_start_with_digit

    trace = example_traces()["distraction"]
    good = {"prompt": build_prompt(trace), "completion": build_target("distraction", "away.", 0.6)}
    check_answers_start_with_digit([good], tok, digit_token_ids(tok))
    bad = {**good, "completion": " " + good["completion"]}
    with pytest.raises(ValueError, match="training record 1: the answer does not start with a class-digit token"):
        check_answers_start_with_digit([good, bad], tok, digit_token_ids(tok))
