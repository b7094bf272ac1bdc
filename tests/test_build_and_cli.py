"""`formwhy data build` and the command line's bad-input paths."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from formwhy.cli import app
from formwhy.taxonomy import NAMES
from formwhy.trace import EXAMPLES_DIR

runner = CliRunner()


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_build_is_reproducible_by_seed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        res = runner.invoke(app, ["data", "build", "--out", str(tmp_path / name), "--n", "400", "--seed", "7",
                                  "--n-val", "40", "--n-test", "40"])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "c"), "--n", "400", "--seed", "8",
                              "--n-val", "40", "--n-test", "40"])
    for part in ("train", "validation", "test"):
        a, b = (tmp_path / "a" / f"{part}.jsonl").read_text(), (tmp_path / "b" / f"{part}.jsonl").read_text()
        assert a == b
        assert a != (tmp_path / "c" / f"{part}.jsonl").read_text()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["generated"] == 400
    assert summary["kept"] + summary["duplicates"] == 400
    assert sum(summary["splits"].values()) == summary["kept"]
    assert 35 <= summary["splits"]["validation"] <= 45
    rows = _read(tmp_path / "a" / "train.jsonl")
    assert {"id", "label", "trace", "reasoning", "confidence"} <= set(rows[0])
    ids = [r["id"] for p in ("train", "validation", "test") for r in _read(tmp_path / "a" / f"{p}.jsonl")]
    assert len(ids) == len(set(ids))


def test_default_build_is_fast_and_has_about_108_validation(tmp_path: Path) -> None:
    res = runner.invoke(app, ["data", "build", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["generated"] == 1100 and summary["seconds"] < 60
    assert 100 <= summary["splits"]["validation"] <= 116
    assert "duplicates removed" in res.output


def test_data_mix_rebuilds_the_shipped_adapters_training_file(tmp_path: Path) -> None:
    """`formwhy data mix`, the README's retrain recipe: the default build's first 600 synthetic examples plus the
    three hand-written training sets give, byte for byte, the file the shipped adapter was trained on (its manifest's
    sha256), with no `head`/`cat`."""
    root = Path(__file__).resolve().parents[1]
    assert runner.invoke(app, ["data", "build", "--out", str(tmp_path / "data")]).exit_code == 0
    synthetic = tmp_path / "data" / "train.jsonl"
    handwritten = [root / "data" / "handwritten" / f for f in ("train.jsonl", "train-b.jsonl", "train-c.jsonl")]
    out = tmp_path / "mix" / "train.jsonl"
    res = runner.invoke(app, ["data", "mix", f"{synthetic}:600", *map(str, handwritten), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1656 examples" in res.output and "(first 600)" in res.output
    manifest = json.loads((root / "adapters" / "gemma3-270m-formwhy" / "formwhy.json").read_text())
    assert hashlib.sha256(out.read_bytes()).hexdigest() == manifest["training"]["data_sha256"]["train"]
    assert out.read_text().splitlines() == (synthetic.read_text().splitlines()[:600]
                                           + [line for f in handwritten for line in f.read_text().splitlines()])


def test_data_mix_refuses_what_would_spoil_a_training_file(tmp_path: Path) -> None:
    """Test sets, too few examples, repeated ids or files, and overwriting: each refused with its reason, and a
    refused mix leaves no file behind."""
    rows = [json.loads(p.read_text()) for p in sorted(EXAMPLES_DIR.glob("*.json"))]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"id": f"a{k}", "label": NAMES[k], "trace": p}) + "\n"
                         for k, p in enumerate(rows)))  # the spec's examples, in digit order
    b.write_text(a.read_text().replace('"id": "a', '"id": "b'))
    out = tmp_path / "out.jsonl"

    def refused(args: list[str], message: str) -> None:
        res = runner.invoke(app, ["data", "mix", *args])
        assert res.exit_code == 1 and message in res.output, res.output

    refused([f"{a}:7", "--out", str(out)], "has 6 examples, fewer than the 7 asked for")
    refused([f"{a}:0", "--out", str(out)], "must be at least 1")
    refused([str(a), str(a), "--out", str(out)], "is given twice")
    refused([str(a), str(a.with_name("a.jsonl")) + ":2", "--out", str(out)], "is given twice")
    refused([str(a), str(tmp_path / "c.jsonl"), "--out", str(out)], "c.jsonl: no such file")
    dup = tmp_path / "dup.jsonl"
    dup.write_text(a.read_text().splitlines(keepends=True)[1])
    refused([str(a), str(dup), "--out", str(out)], "id 'a1' is also in")
    test_set = tmp_path / "test-extra.jsonl"
    test_set.write_text(a.read_text())
    refused([str(a), str(test_set), "--out", str(out)], "refusing to mix training data on a test set")
    refused([str(a), "--out", str(a)], "is one of the input files")
    assert not out.exists()
    res = runner.invoke(app, ["data", "mix", f"{a}:2", str(b), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a0", "a1"] + [f"b{k}"
                                                                                              for k in range(6)]
    refused([str(a), "--out", str(out)], "exists: pass --force")
    assert runner.invoke(app, ["data", "mix", str(a), "--out", str(out), "--force"]).exit_code == 0
    assert out.read_text() == a.read_text()


def test_prior_option_uniform_and_weights(tmp_path: Path) -> None:
    """`--prior uniform` balances the classes (the traffic prior is imbalanced on purpose); weights are normalised."""
    from collections import Counter

    from formwhy.taxonomy import NAMES, parse_prior

    assert parse_prior("uniform") == dict.fromkeys(NAMES, 1 / 6) == parse_prior(" Uniform ")
    assert parse_prior("price_shock=3,distraction=1") == {**dict.fromkeys(NAMES, 0.0), "price_shock": 0.75,
                                                          "distraction": 0.25}
    res = runner.invoke(app, ["data", "build", "--out", str(tmp_path), "--n", "600", "--prior", "uniform"])
    assert res.exit_code == 0, res.output
    counts = Counter(r["label"] for p in ("train", "validation", "test") for r in _read(tmp_path / f"{p}.jsonl"))
    assert set(counts) == set(NAMES) and max(counts.values()) < 1.5 * min(counts.values())
    res = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "x"), "--prior", "balanced"])
    assert res.exit_code == 1 and "expected name=weight" in res.output


def test_validate_examples_pass_and_value_key_fails(tmp_path: Path) -> None:
    files = sorted(str(p) for p in EXAMPLES_DIR.glob("*.json"))
    res = runner.invoke(app, ["validate", *files])
    assert res.exit_code == 0 and "6 trace(s) valid" in res.output
    doc = json.loads(Path(files[0]).read_text())
    doc["events"][12]["value"] = "SAVE10"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 1
    assert "events[12].value: unknown key is not allowed" in res.output
    assert "SAVE10" not in res.output


def test_validate_jsonl_reports_line_numbers(tmp_path: Path) -> None:
    good = json.loads((EXAMPLES_DIR / "6-distraction.json").read_text())
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"label": "distraction", "trace": good}) + "\n{not json\n"
                 + json.dumps({**good, "events": []}) + "\n")
    res = runner.invoke(app, ["validate", str(f)])
    assert res.exit_code == 1
    assert f"{f}:2: not valid JSON" in " ".join(res.output.split())
    assert f"{f}:3: events: must have at least 1 item(s)" in res.output
    res = runner.invoke(app, ["validate", str(tmp_path / "missing.json")])
    assert res.exit_code == 1 and "no such file" in res.output


def test_bad_options_are_clear(tmp_path: Path) -> None:
    res = runner.invoke(app, ["data", "build", "--out", str(tmp_path), "--source", "magic"])
    assert res.exit_code == 1 and "--source must be simulator, anthropic or openai" in res.output
    res = runner.invoke(app, ["data", "build", "--out", str(tmp_path), "--prior", "price_shock=x"])
    assert res.exit_code == 1 and "weight is not a number" in res.output
    res = runner.invoke(app, ["data", "build", "--out", str(tmp_path), "--n", "20"])
    assert res.exit_code == 1 and "too few" in res.output
    assert not (tmp_path / "train.jsonl").exists()


def test_every_command_has_help() -> None:
    for args in (["--help"], ["validate", "--help"], ["render", "--help"], ["data", "--help"],
                 ["data", "build", "--help"], ["data", "summary", "--help"], ["simulate", "--help"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, args


def test_render_command() -> None:
    res = runner.invoke(app, ["render", str(EXAMPLES_DIR / "3-trust_concern.json")])
    assert res.exit_code == 0 and "focus ssn*" in res.output
    res = runner.invoke(app, ["render", str(EXAMPLES_DIR / "missing.json")])
    assert res.exit_code == 1 and "no such file" in res.output
