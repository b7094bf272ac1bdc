"""The hand-written sets: valid, private, as documented.

Six test sets (`data/real/test.jsonl`, `test-b.jsonl` ... `test-f.jsonl`) are evaluation-only,
two validation sets (`data/handwritten/validation.jsonl`, `validation-c.jsonl`) are for calibration, and three
training sets (`data/handwritten/train.jsonl`, writers t1-t8, `train-b.jsonl`, writers t9-t16, and `train-c.jsonl`,
writers t17-t22) are for training. Every trace validates against the contract, carries no typed value, names only
declared fields, keeps time monotonic, and the class and hard-case counts match the READMEs. The training and
calibration commands refuse the test sets and accept the validation sets.
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
    "test-c.jsonl": (240, dict.fromkeys(NAMES, 40), 60),
    "test-d.jsonl": (240, dict.fromkeys(NAMES, 40), 60),
    "test-e.jsonl": (240, dict.fromkeys(NAMES, 40), 60),  # read once, by experiment 4
    "test-f.jsonl": (240, dict.fromkeys(NAMES, 40), 60),  # read once, by experiment 5
}
HANDWRITTEN_VAL_C = HANDWRITTEN_VAL.with_name("validation-c.jsonl")
VALIDATION = {HANDWRITTEN_VAL: (60, dict.fromkeys(NAMES, 10), 15),
              HANDWRITTEN_VAL_C: (96, dict.fromkeys(NAMES, 16), 24)}
HANDWRITTEN_TRAIN = HANDWRITTEN_VAL.with_name("train.jsonl")
HANDWRITTEN_TRAIN_B = HANDWRITTEN_VAL.with_name("train-b.jsonl")
HANDWRITTEN_TRAIN_C = HANDWRITTEN_VAL.with_name("train-c.jsonl")
TRAINING = {HANDWRITTEN_TRAIN: (384, dict.fromkeys(NAMES, 64), 116),
            HANDWRITTEN_TRAIN_B: (384, dict.fromkeys(NAMES, 64), 112),
            HANDWRITTEN_TRAIN_C: (288, dict.fromkeys(NAMES, 48), 92)}
ALL_SETS = {REAL / name: spec for name, spec in SETS.items()} | VALIDATION | TRAINING
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
    assert not is_test_set(HANDWRITTEN_VAL) and not is_test_set(HANDWRITTEN_VAL_C)  # for calibration
    assert not any(is_test_set(p) for p in TRAINING)  # for training
    assert all(is_test_set(REAL / f"test-{x}.jsonl") for x in "bcdef")


def test_no_trace_is_shared_between_the_hand_written_sets() -> None:
    """Each set was written apart from the others: no trace and no form id in common between any two."""
    seen_traces: dict[str, str] = {}
    seen_forms: dict[str, str] = {}
    for path in sorted(ALL_SETS):
        for r in _rows(path):
            key = canonical_json(r["trace"])  # the key `formwhy data build` deduplicates on
            assert seen_traces.setdefault(key, path.name) == path.name, (r["id"], seen_traces[key])
            form = r["trace"]["form"]["id"]
            assert seen_forms.setdefault(form, path.name) == path.name, (r["id"], seen_forms[form])


# writers per file, with the number of traces each wrote (the training writers' brief allowed a shorter file)
WRITERS = {
    REAL / "test-c.jsonl": dict.fromkeys(["c1", "c2", "c3", "c4", "c5"], 48),
    REAL / "test-d.jsonl": dict.fromkeys(["d1", "d2", "d3", "d4", "d5"], 48),
    REAL / "test-e.jsonl": dict.fromkeys(["e1", "e2", "e3", "e4", "e5"], 48),
    REAL / "test-f.jsonl": dict.fromkeys(["f1", "f2", "f3", "f4", "f5"], 48),
    HANDWRITTEN_VAL_C: dict.fromkeys(["c6", "c7"], 48),
    HANDWRITTEN_TRAIN: dict.fromkeys([f"t{i}" for i in range(1, 9)], 48),
    HANDWRITTEN_TRAIN_B: dict.fromkeys([f"t{i}" for i in range(9, 17)], 48),
    HANDWRITTEN_TRAIN_C: dict.fromkeys([f"t{i}" for i in range(17, 23)], 48),
}


LATER_TESTS = (REAL / "test-d.jsonl", REAL / "test-e.jsonl", REAL / "test-f.jsonl")  # written under brief-test-d


@pytest.mark.parametrize("path", sorted(WRITERS), ids=lambda p: p.name)
def test_the_writers_sets_are_split_by_writer(path: Path) -> None:
    """Set C is writers c1-c5, sets D, E and F writers d1-d5, e1-e5 and f1-f5, validation-c writers c6-c7 and the
    hand-written training sets writers t1-t8, t9-t16 and t17-t22, each writer's traces in id order with 8 per class
    and no neighbouring labels alike; `bench/writer_cv.py` reads the writer from the id. The training writers and the
    writers of sets D, E and F put one trace of each class in every batch of six, and sets D, E and F have 2 / 1 hard
    traces in alternate batches."""
    rows = _rows(path)
    expected = WRITERS[path]
    assert Counter(r["id"].split("-")[0] for r in rows) == expected
    for w, n in expected.items():
        mine = [r for r in rows if r["id"].startswith(f"{w}-")]
        assert [r["id"] for r in mine] == [f"{w}-{i:03d}" for i in range(1, n + 1)]
        assert Counter(r["label"] for r in mine) == dict.fromkeys(NAMES, n // 6)
        assert all(a["label"] != b["label"] for a, b in zip(mine, mine[1:], strict=False))
        assert all(r["trace"]["form"]["id"].startswith(f"{w}-") for r in mine)
        if path in (*TRAINING, *LATER_TESTS):
            for k in range(0, n, 6):
                assert {r["label"] for r in mine[k:k + 6]} == set(NAMES), (w, k)
        if path in LATER_TESTS:
            assert [sum(r["hard"] for r in mine[k:k + 6]) for k in range(0, n, 6)] == [2, 1] * 4, w


def test_the_writers_checker_passes_each_writers_file_and_catches_faults(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`data/handwritten/writers/validate.py`, the checker every writer ran: each training writer's file passes it
    as written, and a file with a reused form id, an undeclared field and time going back does not."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("validate", DATA / "handwritten" / "writers" / "validate.py")
    assert spec is not None and spec.loader is not None
    validate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(validate)
    rows = [r for path in TRAINING for r in _rows(path)]
    for w in [w for path in TRAINING for w in WRITERS[path]]:
        mine = tmp_path / f"{w}.jsonl"
        mine.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"].startswith(f"{w}-")))
        assert validate.main([str(mine), w]) == 0
        assert capsys.readouterr().out.endswith("no problems\n")
    bad = [json.loads(json.dumps(r)) for r in rows[:3]]
    bad[1]["trace"]["form"]["id"] = bad[0]["trace"]["form"]["id"]
    bad[2]["trace"]["events"][1]["t"] = bad[2]["trace"]["events"][-1]["t"] + 1
    bad[2]["trace"]["events"].append({"t": 10**8, "type": "focus", "field": "nope"})
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bad))
    assert validate.main([str(tmp_path / "bad.jsonl"), "t1"]) == 1
    out = capsys.readouterr().out
    assert "t1-002: form id reused" in out and "t decreases" in out and "field nope not declared" in out
    assert validate.main([]) == 2
