"""Progress of long runs: a bar in a terminal, plain lines in a log file (where rich draws nothing)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from formwhy.progress import _duration, progress


def _log_console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=200), buf


def test_a_log_file_gets_plain_lines_with_counts_and_time_left() -> None:
    console, buf = _log_console()
    with progress("llm on e.jsonl", 240, console=console, every=0) as advance:
        advance(8)
        advance(232)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("llm on e.jsonl: 8/240 (3 %), 0 s, about ") and lines[0].endswith(" left")
    assert lines[1] == "llm on e.jsonl: 240/240 (100 %), 0 s"


def test_lines_are_spaced_out_but_the_end_is_always_written() -> None:
    console, buf = _log_console()
    with progress("scoring", 100, console=console, every=3600) as advance:
        for _ in range(10):
            advance(10)
    assert buf.getvalue().splitlines() == ["scoring: 100/100 (100 %), 0 s"]


def test_a_note_ends_the_line() -> None:
    console, buf = _log_console()
    with progress("generating 2 examples", 2, console=console, every=0) as advance:
        advance(1, note="done 1 · failed 0")
        advance(1)
    lines = buf.getvalue().splitlines()
    assert lines[0].endswith("left; done 1 · failed 0")
    assert lines[1] == "generating 2 examples: 2/2 (100 %), 0 s; done 1 · failed 0"  # the note stays


def test_disabled_or_empty_runs_write_nothing() -> None:
    console, buf = _log_console()
    for kwargs in ({"total": 5, "disable": True}, {"total": 0}):
        with progress("x", console=console, every=0, **kwargs) as advance:  # type: ignore[arg-type]
            advance(5)
    assert buf.getvalue() == ""


def test_a_terminal_gets_a_transient_bar() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with progress("scoring", 4, console=console) as advance:
        advance(4)
    assert "scoring" in buf.getvalue()  # drawn, then cleared (transient)
    assert "scoring: 4/4" not in buf.getvalue()  # no plain log line in a terminal


def test_brackets_in_a_terminal_are_text_not_markup() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160)
    with progress("llm on runs/[b]/e.jsonl", 2, console=console) as advance:
        advance(1, note="done 1 [red]x[/red]")
        advance(1)
    out = buf.getvalue()
    assert "runs/[b]/e.jsonl" in out and "done 1 [red]x[/red]" in out  # rich would have eaten both as tags


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (59, "59 s"), (61, "1 min 01 s"), (3725, "1 h 02 min")])
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert _duration(seconds) == text


def test_classify_of_many_traces_reports_progress_in_a_log(tmp_path: Path) -> None:
    """Through the CLI, whose stderr is not a terminal here: the run ends with its count."""
    from formwhy.build import build_simulated
    from formwhy.cli import app

    data = tmp_path / "data"
    build_simulated(data, n=700, seed=5)
    runner = CliRunner()
    model = tmp_path / "model"
    res = runner.invoke(app, ["train", "features", "--train", str(data / "train.jsonl"), "--validation",
                              str(data / "validation.jsonl"), "--out", str(model), "--max-iter", "20"])
    assert res.exit_code == 0, res.output
    n = len((data / "train.jsonl").read_text().splitlines())
    assert n > 256  # more than one chunk of the feature model
    res = runner.invoke(app, ["classify", str(data / "train.jsonl"), "--backend", "features", "--model", str(model),
                              "--json"])
    assert res.exit_code == 0, res.output
    assert f"features: classifying {n} traces: {n}/{n} (100 %)" in res.stderr
    assert len(res.stdout.splitlines()) == n  # the progress line is not mixed into the JSON rows
