"""`formwhy train features`, `calibrate`, `classify` and `evaluate` end to end, and their bad-input paths."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from formwhy.build import simulated_examples
from formwhy.cli import app
from formwhy.dataset import write_examples
from formwhy.taxonomy import DEFAULT_PRIOR, NAMES
from formwhy.trace import EXAMPLES_DIR

runner = CliRunner()
FAST = ["--max-iter", "40", "--learning-rate", "0.15"]
ROOT = Path(__file__).resolve().parents[1]
EVAL_FILES = ("metrics.json", "report.md", "predictions.jsonl", "reliability.png", "confusion.png", "risk_coverage.png")


def _out(res) -> str:  # noqa: ANN001
    return " ".join(res.output.split())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    write_examples(root / "train.jsonl", simulated_examples(360, seed=201, prior=DEFAULT_PRIOR, hard_share=0.25))
    write_examples(root / "validation.jsonl", simulated_examples(100, seed=202, prior=DEFAULT_PRIOR,
                                                                 hard_share=0.25))
    write_examples(root / "heldout.jsonl", simulated_examples(40, seed=203, prior=DEFAULT_PRIOR, hard_share=0.25))
    model = root / "model"
    res = runner.invoke(app, ["train", "features", "--train", str(root / "train.jsonl"), "--validation",
                              str(root / "validation.jsonl"), "--out", str(model), *FAST])
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output and "macro-F1" in res.output and "T =" in res.output
    return {"root": root, "model": model}


def test_train_writes_model_dir(env: dict[str, Path]) -> None:
    files = sorted(p.name for p in env["model"].iterdir())
    assert files == ["calibration.json", "formwhy.json", "model.skops"]
    cal = json.loads((env["model"] / "calibration.json").read_text())
    assert cal["temperature"]["temperature"] > 0 and cal["aps"]["alpha"] == 0.1
    assert not [p for p in env["root"].iterdir() if p.name.startswith(".")]  # no temp folders left


def test_train_no_calibrate_and_refuses_test_sets(env: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", "features", "--train", str(env["root"] / "train.jsonl"), "--validation",
                              str(env["root"] / "validation.jsonl"), "--out", str(out), "--no-calibrate", *FAST])
    assert res.exit_code == 0, res.output
    assert not (out / "calibration.json").exists() and (out / "model.skops").exists()
    test_file = tmp_path / "test.jsonl"
    shutil.copy(env["root"] / "heldout.jsonl", test_file)
    res = runner.invoke(app, ["train", "features", "--train", str(test_file), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "refusing to train on a test set" in _out(res)
    assert not (tmp_path / "x").exists()


def test_calibrate_guard_and_force(env: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(env["model"], model)
    before = (model / "calibration.json").read_text()
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join((env["root"] / "validation.jsonl").read_text().splitlines()[:12]) + "\n")
    res = runner.invoke(app, ["calibrate", "--backend", "features", "--model", str(model), "--data", str(small)])
    assert res.exit_code == 1
    assert "refusing to fit: only 12 calibration rows" in _out(res) and "--force" in _out(res)
    assert (model / "calibration.json").read_text() == before
    res = runner.invoke(app, ["calibrate", "--backend", "features", "--model", str(model), "--data", str(small),
                              "--force"])
    assert res.exit_code == 0, res.output
    assert "T =" in res.output and "NLL" in res.output
    cal = json.loads((model / "calibration.json").read_text())
    assert cal["fit"]["n"] == 12 and cal["fit"]["forced"] is True and cal["data"] == str(small)
    res = runner.invoke(app, ["calibrate", "--model", str(model), "--data",
                              str(env["root"] / "validation.jsonl")])
    assert res.exit_code == 0, res.output
    assert json.loads((model / "calibration.json").read_text())["fit"]["n"] == 100


def test_calibrate_accepts_the_hand_written_validation_set(env: dict[str, Path], tmp_path: Path) -> None:
    """`data/handwritten/validation.jsonl` is validation data (unlike the two sets under `data/real/`)."""
    hand = ROOT / "data" / "handwritten" / "validation.jsonl"
    model = tmp_path / "model"
    shutil.copytree(env["model"], model)
    res = runner.invoke(app, ["calibrate", "--backend", "features", "--model", str(model), "--data", str(hand)])
    assert res.exit_code == 0, res.output
    cal = json.loads((model / "calibration.json").read_text())
    assert cal["fit"]["n"] == 60 and cal["data"] == str(hand) and cal["temperature"]["temperature"] > 0


def test_calibrate_pools_repeated_data_and_refuses_a_test_file_among_them(env: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    """`--data A --data B` fits on both files; a test file anywhere in the list is refused before anything runs."""
    hand = ROOT / "data" / "handwritten" / "validation.jsonl"
    val = env["root"] / "validation.jsonl"
    model = tmp_path / "model"
    shutil.copytree(env["model"], model)
    res = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(val), "--data", str(hand)])
    assert res.exit_code == 0, res.output
    cal = json.loads((model / "calibration.json").read_text())
    assert cal["fit"]["n"] == 160 and cal["data"] == f"{val} + {hand}"
    assert [len(h) for h in cal["data_sha256"].split(" + ")] == [64, 64]
    before = (model / "calibration.json").read_text()
    test_file = tmp_path / "test.jsonl"
    shutil.copy(val, test_file)
    res = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(hand), "--data", str(test_file)])
    assert res.exit_code == 1 and "test set" in _out(res)
    res = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(val), "--data", str(val)])
    assert res.exit_code == 1 and f"--data {val} is given twice" in _out(res)
    copy = tmp_path / "copy.jsonl"  # the same ids under another name
    shutil.copy(val, copy)
    res = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(val), "--data", str(copy)])
    assert res.exit_code == 1 and f"is also in {val}" in _out(res)
    assert (model / "calibration.json").read_text() == before


def test_classify_spec_examples_json(env: dict[str, Path]) -> None:
    files = sorted(str(p) for p in EXAMPLES_DIR.glob("*.json"))
    res = runner.invoke(app, ["classify", *files, "--backend", "features", "--model", str(env["model"]), "--json",
                              "--reasoning"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(rows) == 6
    for row, f in zip(rows, files, strict=True):
        assert row["source"] == f and row["class"] in NAMES and 0 < row["probability"] <= 1
        assert row["calibrated"] is True and row["class"] in row["prediction_set"]
        assert row["recovery_flow"] and isinstance(row["reasoning"], str) and "label" not in row
        assert abs(sum(row["probs"].values()) - 1) < 1e-4
    correct = sum(Path(r["source"]).stem.split("-", 1)[1] == r["class"] for r in rows)
    assert correct >= 5


def test_classify_labelled_jsonl_table_and_uncalibrated(env: dict[str, Path], tmp_path: Path) -> None:
    res = runner.invoke(app, ["classify", str(env["root"] / "heldout.jsonl"), "--backend", "features", "--model",
                              str(env["model"])])
    assert res.exit_code == 0, res.output
    assert "recovery" in res.output and "price_shock" in res.output
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("model.skops", "formwhy.json"):
        shutil.copy(env["model"] / name, bare / name)
    res = runner.invoke(app, ["classify", str(EXAMPLES_DIR / "1-price_shock.json"), "--backend", "features",
                              "--model", str(bare),
                              "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)
    assert row["calibrated"] is False and row["prediction_set"] is None
    assert row["probability"] == pytest.approx(row["raw_probability"])


def test_classify_invalid_traces_name_file_and_paths(env: dict[str, Path], tmp_path: Path) -> None:
    doc = json.loads((EXAMPLES_DIR / "1-price_shock.json").read_text())
    doc["events"][12]["value"] = "SAVE10"
    doc["events"][3]["t"] = -5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    res = runner.invoke(app, ["classify", str(bad), str(tmp_path / "missing.json"), "--backend", "features",
                              "--model", str(env["model"])])
    assert res.exit_code == 1
    out = _out(res)
    assert f"{bad}: invalid trace" in out and "events[12].value: unknown key" in out and "events[3].t" in out
    assert f"{tmp_path / 'missing.json'}: no such file" in out and "SAVE10" not in out


def test_evaluate_writes_everything(env: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "eval"
    res = runner.invoke(app, ["evaluate", "--data", str(env["root"] / "heldout.jsonl"), "--backend", "features",
                              "--model", str(env["model"]), "--out", str(out), "--boot", "50", "--bins", "10"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(EVAL_FILES)
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 40 and m["backend"] == "features" and m["n_bins"] == 10 and m["binning"] == "equal_width"
    assert m["data"] == str(env["root"] / "heldout.jsonl") and "features:" in m["model"]
    base = {"accuracy", "macro_f1", "ece", "ece_ci", "nll", "brier"}
    assert base <= set(m["methods"]["raw"])
    assert base | {"aps_coverage", "aps_mean_set_size", "temperature"} <= set(m["methods"]["calibrated"])
    assert "verbalized" not in m["methods"]
    assert len(m["methods"]["raw"]["ece_ci"]) == 2
    for method in ("raw", "calibrated"):  # what a perfectly calibrated model would show on these 40 traces
        assert 0 < m["methods"][method]["ece_floor"] < m["methods"][method]["ece_floor_hi"] < 1
    assert set(m["per_class"]) == set(NAMES)
    assert set(m["per_class"]["price_shock"]) == {"precision", "recall", "f1", "support"}
    assert len(m["confusion"]) == 6 and all(len(r) == 6 for r in m["confusion"])
    assert sum(map(sum, m["confusion"])) == 40
    assert set(m["latency_ms"]) >= {"p50", "p95"} and m["aurc"] >= 0
    report = (out / "report.md").read_text()
    assert "10 bins, equal width" in report and "n = 40" in report and "| raw |" in report
    assert "calibrated (temperature)" in report
    assert "| ECE floor |" in report and f"{m['methods']['raw']['ece_floor']:.3f} (≤ " in report
    for png in ("reliability.png", "confusion.png", "risk_coverage.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # the README's table script reads the folder as written (FOLDER=TAG prefixes its confidence labels)
    table = subprocess.run([sys.executable, str(ROOT / "bench" / "eval_table.py"), f"{out}=bf16"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert table[0].startswith("| backend | set | confidence | ECE [95 % CI] | ECE floor |") and len(table) == 4
    raw = m["methods"]["raw"]
    assert table[2] == (f"| features | {env['root'].name}/heldout.jsonl (n = 40) | bf16: raw | {raw['ece']:.3f} "
                        f"[{raw['ece_ci'][0]:.3f}, {raw['ece_ci'][1]:.3f}] | {raw['ece_floor']:.3f} | "
                        f"{raw['accuracy']:.3f} | {raw['macro_f1']:.3f} | {raw['nll']:.3f} | {raw['brier']:.3f} | — |")
    odd = tmp_path / "lr=2e-4"  # an '=' inside the path is not a tag
    shutil.copytree(out, odd)
    table = subprocess.run([sys.executable, str(ROOT / "bench" / "eval_table.py"), str(odd)],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert "| raw |" in table[2] and "bf16" not in table[2]
    # again into the same folder: replaced, not refused
    res = runner.invoke(app, ["evaluate", "--data", str(env["root"] / "heldout.jsonl"), "--model", str(env["model"]),
                              "--out", str(out), "--boot", "20"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["n_boot"] == 20


def test_compare_evals_pairs_two_folders_by_id(tmp_path: Path) -> None:
    def folder(name: str, rows: list[tuple[str, str, int]]) -> Path:
        d = tmp_path / name
        d.mkdir()
        lines = []
        for ex_id, label, guess in rows:  # guess: the class index given 0.7
            probs = [0.06] * 6
            probs[guess] = 0.7
            lines.append(json.dumps({"id": ex_id, "label": label, "raw": probs, "calibrated": probs}))
        (d / "predictions.jsonl").write_text("\n".join(lines) + "\n")
        return d

    labels = [(f"x{i}", NAMES[i % 6]) for i in range(12)]
    new = folder("new", [(i, lab, NAMES.index(lab)) for i, lab in labels])  # all right
    old = folder("old", [(i, lab, NAMES.index(lab) if k % 3 else 0) for k, (i, lab) in enumerate(labels)])
    script = str(ROOT / "bench" / "compare_evals.py")
    res = subprocess.run([sys.executable, script, str(new), str(old), "--n-boot", "200"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert "n = 12, right 12 vs 10" in res[0]  # rows 0, 3, 6, 9 guessed class 0; rows 0 and 6 are class 0
    assert res[1] == "  same top class on 10 of 12; largest probability difference 0.640"  # 0.7 - 0.06
    assert res[2].split()[:6] == ["accuracy", "1.000", "-", "0.833", "=", "+0.167"]
    assert [line.split()[0] for line in res[2:]] == ["accuracy", "macro-F1", "NLL", "Brier", "ECE"]
    # --verbalized runs: their generated answers are compared too
    for d, changed in ((new, "x1"), (old, None)):
        rows = [json.loads(line) for line in (d / "predictions.jsonl").read_text().splitlines()]
        for r in rows[:3]:
            reason = "left at the price" + "!" * (r["id"] == changed)
            r.update(verbalized=0.8, verbalized_label=r["label"], reasoning=reason)
        rows[3]["answer_error"] = "bad_json"
        (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = subprocess.run([sys.executable, script, str(new), str(old), "--n-boot", "200"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert res[-1].startswith("  generated answers (--verbalized): the same on 3 of the 4 traces both answered")
    short = folder("short", [(i, lab, 0) for i, lab in labels[:-1]])
    bad = subprocess.run([sys.executable, script, str(new), str(short)], capture_output=True, text=True)
    assert bad.returncode != 0 and "do not cover the same ids (1 only in the first" in bad.stderr
    row = json.loads((new / "predictions.jsonl").read_text().splitlines()[0])
    for text, message in [('{"id": "x0", "label": "bored"}', ":1: not a `formwhy evaluate` prediction row"),
                          (json.dumps(row | {"calibrated": [1.0]}), ":1: not a `formwhy evaluate` prediction row"),
                          (json.dumps(row) + "\n" + json.dumps(row), ":2: id 'x0' appears twice")]:
        (short / "predictions.jsonl").write_text(text + "\n")
        bad = subprocess.run([sys.executable, script, str(new), str(short)], capture_output=True, text=True)
        assert bad.returncode != 0 and f"predictions.jsonl{message}" in bad.stderr, bad.stderr
    missing = subprocess.run([sys.executable, script, str(new), str(tmp_path / "none")], capture_output=True, text=True)
    assert missing.returncode != 0 and "predictions.jsonl: no such file" in missing.stderr


def _bad_eval(args: list[str], out: Path, message: str) -> None:
    res = runner.invoke(app, ["evaluate", *args, "--out", str(out), "--boot", "10"])
    assert res.exit_code == 1, res.output
    assert message in _out(res), res.output
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_evaluate_bad_inputs(env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = env["root"] / "heldout.jsonl"
    model = ["--model", str(env["model"])]
    out = tmp_path / "eval"
    _bad_eval(["--data", str(good), "--model", str(tmp_path / "nope")], out, "run `formwhy train features` first")
    _bad_eval(["--data", str(good), "--backend", "magic"], out, "unknown backend 'magic'; available: features")
    lines = good.read_text().splitlines()
    row = json.loads(lines[1])
    row["label"] = "bored"
    bad_label = tmp_path / "bad_label.jsonl"
    bad_label.write_text("\n".join([lines[0], json.dumps(row), *lines[2:]]) + "\n")
    _bad_eval(["--data", str(bad_label), *model], out, f"{bad_label}:2: label 'bored' is not one of")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n{not json\n")
    _bad_eval(["--data", str(broken), *model], out, f"{broken}:2: not valid JSON")
    bad_trace = tmp_path / "bad_trace.jsonl"
    row = json.loads(lines[0])
    row["trace"]["events"][0]["value"] = "x"
    bad_trace.write_text(json.dumps(row) + "\n")
    _bad_eval(["--data", str(bad_trace), *model], out, "events[0].value: unknown key")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    _bad_eval(["--data", str(empty), *model], out, f"{empty}: no examples")
    _bad_eval(["--data", str(tmp_path / "nofile.jsonl"), *model], out, "no such file")
    _bad_eval(["--data", str(good), *model, "--bins", "0"], out, "--bins must be at least 1")
    # the default model path (models/features, relative to the working folder) does not exist here
    monkeypatch.chdir(tmp_path)
    _bad_eval(["--data", str(good)], out, "no model at models/features: run `formwhy train features` first")
    # an existing folder that is not an evaluation is never replaced
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    res = runner.invoke(app, ["evaluate", "--data", str(good), *model, "--out", str(other), "--boot", "10"])
    assert res.exit_code == 1 and "refusing to replace" in _out(res)
    assert (other / "notes.txt").read_text() == "keep"


def test_calibrate_and_classify_bad_backend(env: dict[str, Path]) -> None:
    res = runner.invoke(app, ["calibrate", "--backend", "magic", "--data", str(env["root"] / "validation.jsonl")])
    assert res.exit_code == 1 and "unknown backend 'magic'" in _out(res)
    res = runner.invoke(app, ["classify", str(EXAMPLES_DIR / "1-price_shock.json"), "--backend", "magic"])
    assert res.exit_code == 1 and "unknown backend 'magic'" in _out(res)


def test_evaluate_pools_several_files(env: dict[str, Path], tmp_path: Path) -> None:
    """`--data A --data B` evaluates the two files as one set: the same figures as their concatenation."""
    lines = (env["root"] / "heldout.jsonl").read_text().splitlines()
    a, b, both = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "both.jsonl"
    a.write_text("\n".join(lines[:15]) + "\n")
    b.write_text("\n".join(lines[15:]) + "\n")
    both.write_text("\n".join(lines) + "\n")
    common = ["evaluate", "--model", str(env["model"]), "--boot", "30"]
    res = runner.invoke(app, [*common, "--data", str(a), "--data", str(b), "--out", str(tmp_path / "pooled")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*common, "--data", str(both), "--out", str(tmp_path / "one")])
    assert res.exit_code == 0, res.output
    pooled = json.loads((tmp_path / "pooled" / "metrics.json").read_text())
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert pooled["n"] == 40 and pooled["data"] == f"{a} + {b}"
    for key in ("accuracy", "macro_f1", "ece", "ece_ci", "nll", "brier"):
        assert pooled["methods"]["calibrated"][key] == one["methods"]["calibrated"][key]
    assert len((tmp_path / "pooled" / "predictions.jsonl").read_text().splitlines()) == 40
    table = subprocess.run([sys.executable, str(ROOT / "bench" / "eval_table.py"), str(tmp_path / "pooled")],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert f"| features | {tmp_path.name}/a.jsonl + {tmp_path.name}/b.jsonl (n = 40) | raw |" in table[2]
    # the same id in two pooled files is refused, naming both files; nothing is written
    res = runner.invoke(app, [*common, "--data", str(a), "--data", str(both), "--out", str(tmp_path / "dup")])
    first_id = json.loads(lines[0])["id"]
    assert res.exit_code == 1 and f"id {first_id!r} is also in {a}" in _out(res) and str(both) in _out(res)
    assert not (tmp_path / "dup").exists()
    # one file given twice, and an id repeated inside one file: each named for what it is
    res = runner.invoke(app, [*common, "--data", str(a), "--data", str(a), "--out", str(tmp_path / "twice")])
    assert res.exit_code == 1 and f"--data {a} is given twice" in _out(res), _out(res)
    self_dup = tmp_path / "self_dup.jsonl"
    self_dup.write_text(lines[0] + "\n" + lines[0] + "\n")
    res = runner.invoke(app, [*common, "--data", str(self_dup), "--out", str(tmp_path / "selfdup")])
    assert res.exit_code == 1 and f"id {first_id!r} appears twice in this file" in _out(res), _out(res)
    assert not (tmp_path / "twice").exists() and not (tmp_path / "selfdup").exists()
    plus = tmp_path / "x + y.jsonl"  # its name would read back as two pooled files
    plus.write_text(b.read_text())
    res = runner.invoke(app, [*common, "--data", str(a), "--data", str(plus), "--out", str(tmp_path / "plus")])
    assert res.exit_code == 1 and "must not contain ' + '" in _out(res), _out(res)
    from formwhy.dataset import pooled_name, pooled_parts

    assert pooled_parts(pooled_name([a, b])) == [str(a), str(b)] and pooled_name([a]) == str(a)


def test_writer_cv_scores_each_writer_with_a_temperature_fitted_without_it(tmp_path: Path) -> None:
    """bench/writer_cv.py: leave-one-writer-out temperatures and the pre-registered decision rule."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import writer_cv
    finally:
        sys.path.pop(0)
    from formwhy.calibration import TemperatureScaler

    assert writer_cv.writer_of("hv-017") == "hv" and writer_cv.writer_of("c6-003") == "c6"
    with pytest.raises(ValueError, match="writer prefix"):
        writer_cv.writer_of("nodash")
    rng = np.random.default_rng(0)

    def logits(n: int, sharp: float, right: float) -> tuple[np.ndarray, np.ndarray]:
        """n rows, each with a winner at ``sharp`` above the rest, right ``right`` of the time."""
        y = rng.integers(0, 6, n)
        win = np.where(rng.random(n) < right, y, (y + 1 + rng.integers(0, 5, n)) % 6)
        z = rng.normal(0, 0.3, (n, 6))
        z[np.arange(n), win] += sharp
        return z, y

    # synthetic validation: confident and right; two writers' traces: just as confident, right only 70 % of the time
    z_syn, y_syn = logits(120, 6.0, 0.99)
    parts = [logits(60, 6.0, 0.7), logits(60, 6.0, 0.7)]
    z_hand, y_hand = np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    writers = ["w1"] * 60 + ["w2"] * 60
    t_syn = float(TemperatureScaler().fit(z_syn, y_syn).temperature)
    res = writer_cv.cross_writer(z_hand, y_hand, writers, z_syn, y_syn)
    assert res["writers"] == {"w1": 60, "w2": 60}
    hw = res["methods"]["handwritten"]
    # w1's rows are scored with the T fitted on w2 alone, and the reverse
    assert hw["by_writer"]["w1"]["t"] == pytest.approx(TemperatureScaler().fit(z_hand[60:], y_hand[60:]).temperature)
    assert hw["by_writer"]["w2"]["t"] == pytest.approx(TemperatureScaler().fit(z_hand[:60], y_hand[:60]).temperature)
    assert res["methods"]["synthetic"]["by_writer"]["w1"]["t"] == pytest.approx(t_syn)
    assert hw["t_all"] > t_syn  # the writers' traces need a softer temperature than synthetic validation
    assert hw["pooled"]["ece"] < res["methods"]["synthetic"]["pooled"]["ece"]
    assert writer_cv.decide(res) in ("handwritten", "synthetic+handwritten")
    with pytest.raises(ValueError, match="at least two writers"):
        writer_cv.cross_writer(z_hand, y_hand, ["w1"] * 120, z_syn, y_syn)
    # two 48-trace writers (validation-c alone): each held-out remainder is too small to fit a temperature on
    with pytest.raises(ValueError, match="without writer 'c6' only 48 hand-written traces remain"):
        writer_cv.check_writers(["c6"] * 48 + ["c7"] * 48)
    writer_cv.check_writers(["c6"] * 48 + ["c7"] * 48 + ["hv"] * 60)  # three writers: every remainder is >= 50

    def result(syn: tuple[float, float], hw: tuple[float, float], both: tuple[float, float]) -> dict:
        return {"methods": {k: {"pooled": {"ece": e, "nll": n}} for k, (e, n) in
                            (("synthetic", syn), ("handwritten", hw), ("synthetic+handwritten", both))}}

    assert writer_cv.decide(result((0.10, 0.5), (0.06, 0.45), (0.08, 0.40))) == "handwritten"
    assert writer_cv.decide(result((0.10, 0.5), (0.08, 0.45), (0.06, 0.50))) == "synthetic+handwritten"
    assert writer_cv.decide(result((0.10, 0.5), (0.06, 0.55), (0.08, 0.40))) == "synthetic"  # best ECE, worse NLL
    assert writer_cv.decide(result((0.05, 0.5), (0.06, 0.45), (0.07, 0.40))) == "synthetic"  # no better ECE


def test_writer_cv_end_to_end_on_the_feature_model(env: dict[str, Path], tmp_path: Path) -> None:
    """bench/writer_cv.py on real files: writers read from ids, JSON written, test sets refused."""
    rows = [json.loads(line) for line in (env["root"] / "validation.jsonl").read_text().splitlines()]
    hand = tmp_path / "hand.jsonl"
    hand.write_text("".join(json.dumps({**r, "id": f"w{1 + k % 2}-{k:03d}"}) + "\n" for k, r in enumerate(rows)))
    out = tmp_path / "cv.json"
    script = str(ROOT / "bench" / "writer_cv.py")
    args = [sys.executable, script, "--backend", "features", "--model", str(env["model"]), "--synthetic",
            str(env["root"] / "train.jsonl"), "--out", str(out)]
    res = subprocess.run([*args, "--handwritten", str(hand)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    got = json.loads(out.read_text())
    assert got["writers"] == {"w1": 50, "w2": 50} and got["decision"] in ("synthetic", "handwritten",
                                                                           "synthetic+handwritten")
    assert got["methods"]["synthetic"]["t_all"] > 0 and got["methods"]["handwritten"]["t_all"] > 0
    assert "decision (pre-registered rule)" in res.stdout and "| handwritten |" in res.stdout
    small = tmp_path / "small.jsonl"  # two writers of 30: refused before any scoring, with a message, no traceback
    small.write_text("".join(hand.read_text().splitlines(keepends=True)[:60]))
    res = subprocess.run([*args, "--handwritten", str(small), "--out", str(tmp_path / "small.json")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "only 30 hand-written traces remain" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "small.json").exists()
    test_file = tmp_path / "test.jsonl"
    shutil.copy(hand, test_file)
    res = subprocess.run([*args, "--handwritten", str(test_file)], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "test set" in res.stderr
    assert "Traceback" not in res.stderr
    # the hand-written files are read as one pooled set (formwhy.dataset.read_pooled, as `evaluate --data`): the
    # same file twice, or the same id in two files, is refused with the option's name, before any scoring
    res = subprocess.run([*args, "--handwritten", str(hand), str(hand), "--out", str(tmp_path / "twice.json")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and f"--handwritten {hand} is given twice" in res.stderr, res.stderr
    copy = tmp_path / "copy.jsonl"
    shutil.copy(hand, copy)
    res = subprocess.run([*args, "--handwritten", str(hand), str(copy), "--out", str(tmp_path / "twice.json")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and f"is also in {hand}" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "twice.json").exists()


def test_read_pooled_reads_files_in_order_and_names_each_problem(tmp_path: Path) -> None:
    """formwhy.dataset.read_pooled, the one reader behind `evaluate`/`calibrate --data` and writer_cv."""
    from formwhy.dataset import DatasetError, read_pooled

    rows = simulated_examples(7, seed=5, prior=DEFAULT_PRIOR, hard_share=0.25)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_examples(a, [dataclasses.replace(e, id=f"a{k}") for k, e in enumerate(rows[:3])])
    write_examples(b, [dataclasses.replace(e, id=f"b{k}") for k, e in enumerate(rows[3:])])
    got = read_pooled([a, b])
    assert [e.id for e in got] == ["a0", "a1", "a2", "b0", "b1", "b2", "b3"]
    assert [e.trace for e in got] == [e.trace for e in rows]
    with pytest.raises(DatasetError, match="--data .* is given twice"):
        read_pooled([a, tmp_path / "." / "a.jsonl"])
    with pytest.raises(DatasetError, match=r"missing\.jsonl: no such file"):
        read_pooled([a, tmp_path / "missing.jsonl"])
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DatasetError, match=r"bad\.bin: cannot read"):
        read_pooled([bad])
