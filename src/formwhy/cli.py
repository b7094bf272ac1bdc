"""The ``formwhy`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from formwhy import __version__

app = typer.Typer(
    name="formwhy",
    help="Why did this visitor abandon the form? Calibrated abandonment classes from privacy-safe form traces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build and inspect the labelled datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help=".json files (one trace) or .jsonl files (one per line; "
                                                     "labelled lines with a 'trace' key are accepted).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Check traces against the formwhy.trace/v1 contract; exit 1 and list every error if any is invalid."""
    from formwhy.trace import validate_files

    n, problems = validate_files(files)
    for line in problems:
        err.print(line, highlight=False, markup=False)
    if problems:
        err.print(f"[red]{len(problems)} error(s)[/] in {n} trace(s)")
        raise typer.Exit(1)
    if not quiet:
        console.print(f"[green]ok[/]: {n} trace(s) valid")


@app.command()
def render(
    file: Annotated[Path, typer.Argument(help="A trace .json file (or a labelled example).")],
    max_lines: Annotated[int, typer.Option(help="Cut long traces to this many event lines (keeps the end).")] = 80,
) -> None:
    """Print the compact text form of a trace that the model reads."""
    from formwhy.render import render_trace

    trace = _load_trace(file)
    console.print(render_trace(trace, max_lines=max_lines), markup=False, highlight=False)


def _load_trace(file: Path):  # noqa: ANN202
    from formwhy.trace import TraceValidationError, parse_trace_json, unwrap_trace

    if not file.exists():
        fail(f"{file}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
        doc = json.loads(text)
        return parse_trace_json(json.dumps(unwrap_trace(doc)), str(file))
    except json.JSONDecodeError as exc:
        fail(f"{file}: not valid JSON: {exc}")
    except TraceValidationError as exc:
        fail(f"{file}: invalid trace:\n  " + "\n  ".join(exc.errors))


@data_app.command("build")
def data_build(
    out: Annotated[Path, typer.Option(help="Output folder for train/validation/test JSONL.")] = Path(
        "data/synthetic"),
    source: Annotated[str, typer.Option(help="simulator (offline default), anthropic or openai.")] = "simulator",
    n: Annotated[int, typer.Option("--n", help="How many examples to generate before deduplication.")] = 1100,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same datasets.")] = 0,
    n_val: Annotated[int, typer.Option(help="About this many validation examples.")] = 108,
    n_test: Annotated[int, typer.Option(help="About this many synthetic test examples.")] = 110,
    hard_share: Annotated[float, typer.Option(help="Share of hard cases (weak or misleading signals).")] = 0.25,
    prior: Annotated[str, typer.Option(help="Class prior as name=weight,...; default: the spec's traffic prior."
                                       )] = "",
    model: Annotated[str, typer.Option(help="Model for --source anthropic/openai.")] = "",
    base_url: Annotated[str, typer.Option(help="API base URL for --source anthropic/openai.")] = "",
    concurrency: Annotated[int, typer.Option(help="Parallel API calls for --source anthropic/openai.")] = 4,
    raw: Annotated[Path | None, typer.Option(help="Resumable JSONL of generated examples (LLM sources); default "
                                                  "OUT/raw-SOURCE.jsonl.")] = None,
) -> None:
    """Generate labelled traces, deduplicate, split into train / validation / test and print a summary."""
    from formwhy.build import build, build_simulated
    from formwhy.taxonomy import DEFAULT_PRIOR, parse_prior

    if n < 1:
        fail("--n must be at least 1")
    if not 0 <= hard_share <= 1:
        fail("--hard-share must be within [0, 1]")
    try:
        prior_map = parse_prior(prior) if prior else DEFAULT_PRIOR
    except (ValueError, KeyError) as exc:
        fail(f"--prior: {exc}")
    try:
        if source == "simulator":
            report = build_simulated(out, n=n, seed=seed, n_val=n_val, n_test=n_test, prior=prior_map,
                                     hard_share=hard_share)
        elif source in ("anthropic", "openai"):
            from formwhy.dataset import read_examples
            from formwhy.generate_llm import make_generator, run_generation

            raw_path = raw or out / f"raw-{source}.jsonl"
            gen = make_generator(source, model=model or None, base_url=base_url or None)
            gen_report = run_generation(n, raw_path, gen, prior=prior_map, seed=seed, concurrency=concurrency,
                                        hard_share=hard_share)
            console.print(f"generated: {gen_report}")
            examples = read_examples(raw_path)
            report = build(examples, source=source, out_dir=out, n_val=n_val, n_test=n_test, seed=seed,
                           invalid=sum(getattr(gen_report, "invalid", {}).values()))
        else:
            fail(f"--source must be simulator, anthropic or openai, not {source!r}")
    except ValueError as exc:
        fail(str(exc))
    _print_summary(report)


def _print_summary(report) -> None:  # noqa: ANN001
    from formwhy.taxonomy import NAMES

    table = Table(title=f"formwhy datasets in {report.out_dir} (source: {report.source})")
    table.add_column("class")
    for part in report.splits:
        table.add_column(part, justify="right")
    for name in NAMES:
        table.add_row(name, *(str(report.counts[p][name]) for p in report.splits))
    table.add_row("[bold]total", *(f"[bold]{v}" for v in report.splits.values()))
    console.print(table)
    console.print(
        f"generated {report.generated}, invalid {report.invalid}, duplicates removed {report.duplicates}, "
        f"kept {report.kept} ({report.seconds:.1f} s)")


@data_app.command("summary")
def data_summary(
    files: Annotated[list[Path], typer.Argument(help="Labelled JSONL files.")],
) -> None:
    """Class counts of labelled JSONL files."""
    from formwhy.dataset import DatasetError, class_counts, read_examples
    from formwhy.taxonomy import NAMES

    table = Table()
    table.add_column("class")
    counts = {}
    for f in files:
        try:
            counts[str(f)] = class_counts(read_examples(f))
        except DatasetError as exc:
            fail(str(exc))
        table.add_column(str(f), justify="right")
    for name in NAMES:
        table.add_row(name, *(str(c[name]) for c in counts.values()))
    table.add_row("total", *(str(sum(c.values())) for c in counts.values()))
    console.print(table)


@app.command()
def simulate(
    n: Annotated[int, typer.Option("--n", help="How many traces.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    label: Annotated[str, typer.Option(help="Only this class (default: drawn from the prior).")] = "",
    hard_share: Annotated[float, typer.Option(help="Share of hard cases.")] = 0.25,
    out: Annotated[Path | None, typer.Option(help="Write JSONL here instead of standard output.")] = None,
) -> None:
    """Print simulated labelled traces as JSONL (for a look at what the simulator makes)."""
    from formwhy.simulate import Simulator
    from formwhy.taxonomy import by_name

    if label:
        try:
            by_name(label)
        except KeyError as exc:
            fail(str(exc.args[0]))
    sim = Simulator(seed=seed, hard_share=hard_share)
    fh = out.open("w") if out else sys.stdout
    for i in range(n):
        s = sim.one(i, label or None)
        fh.write(json.dumps({"id": f"sim-{seed}-{i}", "label": s.label, "trace": s.trace,
                             "reasoning": s.reasoning, "confidence": s.confidence, "hard": s.hard}) + "\n")
    if out:
        fh.close()
        console.print(f"wrote {n} traces to {out}")


if __name__ == "__main__":  # pragma: no cover
    app()
