"""The hand-written sets: valid, private, as documented.

Two test sets (`data/real/test.jsonl`, `data/real/test-b.jsonl`) are evaluation-only, and one validation set
(`data/handwritten/validation.jsonl`) is for calibration. Every trace validates against the contract, carries no
typed value, names only declared fields, keeps time monotonic, and the class and hard-case counts match the READMEs.
The training and calibration commands refuse the two test sets and accept the validation set.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from formwhy.dataset import read_examples
from formwhy.taxonomy import NAMES
from formwhy.trace import canonical_json, parse_trace

DATA = Path(__file__).resolve().parents[1] / "data"
REAL = DATA / "real"
HANDWRITTEN_VAL = DATA / "handwritten" / "validation.jsonl"
# (file, total, per-class counts, hard cases) as their READMEs state them
SETS = {
    "test.jsonl": (69, {"price_shock": 14, "account_wall": 10, "trust_concern": 10, "form_friction": 12,
                        "technical_error": 10, "distraction": 13}, 18),
    "test-b.jsonl": (60, dict.fromkeys(NAMES, 10), 15),
}
ALL_SETS = {REAL / name: spec for name, spec in SETS.items()} | {HANDWRITTEN_VAL: (60, dict.fromkeys(NAMES, 10), 15)}
EVENT_KEYS = {"t", "type", "step", "field", "len", "code", "target", "kind", "amount", "ok", "status", "ms"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("path", sorted(ALL_SETS), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_set_is_valid_private_and_as_documented(path: Path) -> None:
    n, counts, hard = ALL_SETS[path]
    rows = _rows(path)
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
    assert len(read_examples(path)) == n  # the project's own reader takes it


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
    assert not is_test_set(HANDWRITTEN_VAL)  # the hand-written validation set is for calibration


def test_no_trace_is_shared_between_the_hand_written_sets() -> None:
    """The validation set was written apart from the test sets: no trace and no form id in common."""
    val = _rows(HANDWRITTEN_VAL)
    val_traces = {canonical_json(r["trace"]) for r in val}  # the key `formwhy data build` deduplicates on
    val_forms = {r["trace"]["form"]["id"] for r in val}
    for name in SETS:
        test = _rows(REAL / name)
        assert not val_traces & {canonical_json(r["trace"]) for r in test}
        assert not val_forms & {r["trace"]["form"]["id"] for r in test}
