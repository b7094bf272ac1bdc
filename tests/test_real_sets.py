"""The two hand-written test sets (`data/real/test.jsonl`, `data/real/test-b.jsonl`): valid, private, as documented.

These files are evaluation-only; the checks here keep them that way: every trace validates against the contract,
carries no typed value, names only declared fields, keeps time monotonic, and the class and hard-case counts match
their READMEs. The training and calibration commands refuse both files.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from formwhy.dataset import read_examples
from formwhy.taxonomy import NAMES
from formwhy.trace import parse_trace

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
# (file, total, per-class counts, hard cases) as their READMEs state them
SETS = {
    "test.jsonl": (69, {"price_shock": 14, "account_wall": 10, "trust_concern": 10, "form_friction": 12,
                        "technical_error": 10, "distraction": 13}, 18),
    "test-b.jsonl": (60, dict.fromkeys(NAMES, 10), 15),
}
EVENT_KEYS = {"t", "type", "step", "field", "len", "code", "target", "kind", "amount", "ok", "status", "ms"}


@pytest.mark.parametrize("name", sorted(SETS))
def test_set_is_valid_private_and_as_documented(name: str) -> None:
    n, counts, hard = SETS[name]
    rows = [json.loads(line) for line in (REAL / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == n
    assert len({r["id"] for r in rows}) == n
    assert Counter(r["label"] for r in rows) == counts
    assert sum(r["hard"] for r in rows) == hard
    assert len({json.dumps(r["trace"], sort_keys=True) for r in rows}) == n  # no two traces alike
    for r in rows:
        trace = parse_trace(r["trace"], source=r["id"])
        assert r["form_kind"] == trace.form.kind, r["id"]
        declared = {f.name for f in trace.form.fields}
        times = [ev["t"] for ev in r["trace"]["events"]]
        assert times == sorted(times), r["id"]
        for ev in r["trace"]["events"]:
            assert set(ev) <= EVENT_KEYS, (r["id"], ev)  # lengths only: no value, no text
            assert "field" not in ev or ev["field"] in declared, (r["id"], ev)
    assert len(read_examples(REAL / name)) == n  # the project's own reader takes it


@pytest.mark.parametrize("name", sorted(SETS))
def test_training_and_calibration_refuse_the_test_sets(name: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from formwhy.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["train", "features", "--train", str(REAL / name), "--out", str(tmp_path / "m")])
    assert res.exit_code != 0 and "test set" in res.output, res.output
    res = runner.invoke(app, ["calibrate", "--backend", "features", "--data", str(REAL / name)])
    assert res.exit_code != 0 and "test set" in res.output, res.output
    # refused on the path alone, before anything else is looked at (no synthetic data needed)
    res = runner.invoke(app, ["train", "llm", "--train", str(REAL / name), "--validation", str(tmp_path / "none"),
                              "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "test set" in res.output, res.output
    res = runner.invoke(app, ["train", "llm", "--train", str(tmp_path / "none"), "--validation", str(REAL / name),
                              "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "test set" in res.output, res.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "a").exists()


def test_a_synthetic_test_split_is_refused_too(tmp_path: Path) -> None:
    """`train llm` once refused only `data/real`; a `test*.jsonl` split (the synthetic one) is a test set too."""
    from typer.testing import CliRunner

    from formwhy.cli import app

    res = CliRunner().invoke(app, ["train", "llm", "--train", str(tmp_path / "train.jsonl"),
                                   "--validation", str(tmp_path / "synthetic" / "test.jsonl")])
    assert res.exit_code != 0 and "refusing to validate on a test set" in res.output, res.output


def test_what_counts_as_a_test_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from formwhy.dataset import is_test_set

    assert is_test_set("data/synthetic/test.jsonl") and is_test_set(REAL / "test-b.jsonl")
    assert is_test_set("data/real/extra/more.jsonl") and is_test_set("elsewhere/real/copy.jsonl")
    (tmp_path / "data" / "real").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "data" / "real")
    assert is_test_set("copy.jsonl")  # a relative path from inside data/real
    monkeypatch.chdir(tmp_path)
    assert not is_test_set("data/synthetic/train.jsonl") and not is_test_set("data/synthetic/validation.jsonl")
