"""The ``formwhy`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from formwhy import __version__

if TYPE_CHECKING:
    from formwhy.dataset import Example

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


def fail(message: str, code: int = 1) -> NoReturn:
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

    _, trace, _ = _load_traces([file])[0]
    console.print(render_trace(trace, max_lines=max_lines), markup=False, highlight=False)


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
    prior: Annotated[str, typer.Option(help="Class prior as name=weight,... or 'uniform'; default: the spec's "
                                            "traffic prior.")] = "",
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
            from formwhy.generate_llm import (
                DEFAULT_ANTHROPIC_MODEL,
                AnthropicGenerator,
                GenerationAborted,
                GeneratorConfigError,
                OpenAICompatibleGenerator,
                generate,
            )

            raw_path = raw or out / f"raw-{source}.jsonl"
            try:
                if source == "anthropic":
                    gen = AnthropicGenerator(model or DEFAULT_ANTHROPIC_MODEL, base_url=base_url or None)
                else:
                    if not model:
                        fail("--source openai needs --model (the served model's name)")
                    gen = OpenAICompatibleGenerator(model, base_url=base_url or None)
                gen_report = generate(n, raw_path, gen, prior=prior_map, seed=seed, concurrency=concurrency,
                                      hard_share=hard_share)
            except GeneratorConfigError as exc:
                fail(str(exc))
            except GenerationAborted as exc:
                fail(f"{exc} (what was generated is kept in {raw_path}; run the same command to resume)")
            console.print(gen_report.summary())
            examples = read_examples(raw_path)
            report = build(examples, source=source, out_dir=out, n_val=n_val, n_test=n_test, seed=seed,
                           invalid=gen_report.invalid_total)
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


def _mix_part(spec: str) -> tuple[Path, int | None]:
    """``FILE`` or ``FILE:N`` (the first N examples of FILE)."""
    import re

    m = re.fullmatch(r"(.+):(-?\d+)", spec)
    return (Path(m.group(1)), int(m.group(2))) if m else (Path(spec), None)


@data_app.command("mix")
def data_mix(
    parts: Annotated[list[str], typer.Argument(help="Training files in order: FILE for all of it, FILE:N for its "
                                                    "first N examples.")],
    out: Annotated[Path, typer.Option(help="The mixed training JSONL to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Concatenate training files (or their first N examples) into one training file, line for line.

    For example the shipped adapter's training mix: `formwhy data mix data/synthetic/train.jsonl:600
    data/handwritten/train.jsonl data/handwritten/train-b.jsonl data/handwritten/train-c.jsonl --out
    runs/s23-mix/train.jsonl`. Test sets are refused, every line is checked, and ids must stay unique."""
    from formwhy._fsutil import atomic_write_text
    from formwhy.dataset import DatasetError, class_counts, mix_lines
    from formwhy.taxonomy import NAMES

    specs = [_mix_part(p) for p in parts]
    for path, _ in specs:
        _refuse_test_file(path, "mix training data")
    if any(out.resolve() == path.resolve() for path, _ in specs):
        fail(f"--out {out} is one of the input files: write the mix elsewhere")
    if out.exists() and not force:
        fail(f"--out {out} exists: pass --force to overwrite it")
    try:
        mix = mix_lines(specs)
    except DatasetError as exc:
        fail(str(exc))
    rows = [row for part in mix for row in part]
    atomic_write_text(out, "".join(line for line, _ in rows))
    counts = class_counts(ex for _, ex in rows)
    table = Table(title=f"{out}: {len(rows)} examples")
    table.add_column("from")
    table.add_column("examples", justify="right")
    for (path, n), part in zip(specs, mix, strict=True):
        table.add_row(f"{path}" + (f" (first {n})" if n else ""), str(len(part)))
    console.print(table)
    console.print(", ".join(f"{name} {counts[name]}" for name in NAMES))


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


# --- models: train, calibrate, classify, evaluate ---------------------------------------------------------------

train_app = typer.Typer(help="Train a backend's model.", no_args_is_help=True)
app.add_typer(train_app, name="train")

_DEFAULT_TRAIN = Path("data/synthetic/train.jsonl")
_DEFAULT_VALIDATION = Path("data/synthetic/validation.jsonl")


def _refuse_test_file(path: Path, what: str) -> None:
    """Test sets are for evaluation only: never train or calibrate on them."""
    from formwhy.dataset import DatasetError, refuse_test_set

    try:
        refuse_test_set(path, what)
    except DatasetError as exc:
        fail(str(exc))


def _read_labelled(path: Path) -> list[Example]:
    from formwhy.dataset import DatasetError, read_examples

    try:
        return read_examples(path)
    except DatasetError as exc:  # an unreadable file included
        fail(str(exc))


def _read_pooled(paths: list[Path]) -> list[Example]:
    """The labelled examples of one or more ``--data`` files, in order (``formwhy.dataset.read_pooled``), or a clear
    error: a file given twice, an unreadable file, or an id that appears twice, in one file or in two."""
    from formwhy.dataset import DatasetError, read_pooled

    try:
        return read_pooled(paths)
    except DatasetError as exc:
        fail(str(exc))


def _load_backend(name: str, model: Path | None, base_url: str | None = None,  # noqa: ANN202
                  model_name: str | None = None, dtype: str | None = None):
    """(backend, model path or None, calibrator) or a clear error. ``--base-url`` / ``--model-name`` are options
    of the ``openai`` backend only."""
    from formwhy.backends import BackendError, load_backend, resolve_model_path
    from formwhy.calibrator import Calibrator, calibration_dir

    options = {k: v for k, v in (("base_url", base_url), ("model", model_name)) if v}
    if options and name != "openai":
        fail(f"--base-url / --model-name are options of --backend openai, not {name!r}")
    if dtype is not None:
        options["dtype"] = dtype
    try:
        path = resolve_model_path(name, model)
        backend = load_backend(name, path, **options)
    except BackendError as exc:
        fail(str(exc))
    try:
        calibrator = Calibrator.load(calibration_dir(path) if path is not None else None)
    except ValueError as exc:
        fail(str(exc))
    return backend, path, calibrator


_BASE_URL_HELP = "--backend openai: the server URL (http://127.0.0.1:8000/v1); or set FORMWHY_OPENAI_BASE_URL."
_MODEL_NAME_HELP = "--backend openai: the served model (the LoRA name on vLLM); or set FORMWHY_OPENAI_MODEL."


def _predict(backend, traces, reasoning: bool = False, what: str = "scoring"):  # noqa: ANN001, ANN202
    """All of ``traces``, in chunks so that a long run shows progress (a bar, or lines in a log file); a chunk of 32
    still lets an LLM backend batch prompts of similar length together."""
    from formwhy.backends import BackendError
    from formwhy.progress import progress

    chunk = 256 if backend.name == "features" else 32
    preds = []
    try:
        with progress(f"{backend.name}: {what} {len(traces)} traces", len(traces), console=err,
                      disable=len(traces) <= chunk) as advance:
            for i in range(0, len(traces), chunk):
                part = traces[i:i + chunk]
                preds.extend(backend.predict(part, reasoning=reasoning))
                advance(len(part))
    except BackendError as exc:
        fail(str(exc))
    return preds


@train_app.command("features")
def train_features(
    train: Annotated[Path, typer.Option(help="Labelled training JSONL.")] = _DEFAULT_TRAIN,
    validation: Annotated[Path, typer.Option(help="Labelled validation JSONL: reported, and used to fit the "
                                                  "calibration.")] = _DEFAULT_VALIDATION,
    out: Annotated[Path, typer.Option(help="Model directory to write (replaced when it holds a formwhy model).")
                   ] = Path("models/features"),
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Fit and store the calibration "
                                                                                "on --validation.")] = True,
    force: Annotated[bool, typer.Option(help="Fit the calibration even when its guards refuse (few rows, a class "
                                             "missing).")] = False,
    max_iter: Annotated[int | None, typer.Option(help="Boosting rounds (default: the backend's).")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Learning rate (default: the backend's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the booster.")] = 0,
) -> None:
    """Train the `features` backend (gradient boosting on hand-made trace features) in seconds."""
    import time

    from formwhy._fsutil import atomic_dir, check_replaceable, sha256_file
    from formwhy.backends.features import MANIFEST_FILE
    from formwhy.backends.features import train as fit_features
    from formwhy.calibration import CalibrationError
    from formwhy.calibrator import Calibrator

    for path, what in ((train, "train"), (validation, "validate")):
        _refuse_test_file(path, what)
    try:
        check_replaceable(out, (MANIFEST_FILE,))
    except FileExistsError as exc:
        fail(str(exc))
    train_ex = _read_labelled(train)
    val_ex = _read_labelled(validation)
    params: dict = {"random_state": seed}
    if max_iter is not None:
        if max_iter < 1:
            fail("--max-iter must be at least 1")
        params["max_iter"] = max_iter
    if learning_rate is not None:
        if not 0 < learning_rate <= 1:
            fail("--learning-rate must be in (0, 1]")
        params["learning_rate"] = learning_rate
    t0 = time.perf_counter()
    try:
        model = fit_features(train_ex, val_ex, params=params,
                             train_source={"path": str(train), "sha256": sha256_file(train)},
                             validation_source={"path": str(validation), "sha256": sha256_file(validation)})
    except ValueError as exc:
        fail(str(exc))
    seconds = time.perf_counter() - t0
    vm = model.manifest["metrics"]["validation"]
    console.print(f"trained [bold]features[/] on {len(train_ex)} examples in {seconds:.1f} s; validation "
                  f"(n = {vm['n']}): accuracy {vm['accuracy']:.3f}, macro-F1 {vm['macro_f1']:.3f}, "
                  f"NLL {vm['nll']:.3f}")
    calibrator = None
    if calibrate:
        preds = model.predict([ex.trace for ex in val_ex])
        try:
            calibrator = Calibrator().fit(preds, [ex.y for ex in val_ex], force=force)
        except CalibrationError as exc:
            err.print(f"[yellow]warning:[/] calibration skipped: {exc} The model is saved uncalibrated; "
                      f"`formwhy calibrate --backend features --model {out} --data {validation} --force` fits it "
                      f"anyway.", highlight=False)
    with atomic_dir(out, markers=(MANIFEST_FILE,)) as tmp:
        model.save(tmp)
        if calibrator is not None:
            calibrator.save(tmp, backend="features", model=str(out), data=str(validation),
                            data_sha256=sha256_file(validation))
    model.model_dir = out
    if calibrator is not None:
        _print_calibration(calibrator)
    console.print(f"wrote {out}/ ({', '.join(sorted(p.name for p in out.iterdir()))})")


def _print_calibration(cal) -> None:  # noqa: ANN001
    info = cal.info
    nll_, ece_ = info["nll"], info["ece_15"]
    table = Table(title=f"calibration on {info['n']} validation rows" + (" [forced]" if info.get("forced") else ""))
    for col in ("method", "parameters", "NLL", "ECE (15 bins, equal width)"):
        table.add_column(col)
    table.add_row("raw", "", f"{nll_['raw']:.4f}", f"{ece_['raw']:.4f}")
    table.add_row("temperature", f"T = {cal.T:.4f}", f"{nll_['temperature']:.4f}", f"{ece_['temperature']:.4f}")
    table.add_row("vector", "W, b (6 + 6)", f"{nll_['vector']:.4f}", f"{ece_['vector']:.4f}")
    console.print(table)
    console.print(f"APS (alpha {cal.alpha}): qhat {cal.aps.qhat:.4f} on the temperature-scaled probabilities")
    for note in info.get("notes", []):
        err.print(f"[yellow]note:[/] {note}", highlight=False)


@app.command("calibrate")
def calibrate_cmd(
    data: Annotated[list[Path], typer.Option(help="Labelled validation JSONL (never a test set); repeat it to fit "
                                                  "on several files pooled (ids must not repeat).")],
    backend: Annotated[str, typer.Option(help="Backend name (e.g. features).")] = "features",
    model: Annotated[Path | None, typer.Option(help="Model path (default: the backend's default).")] = None,
    force: Annotated[bool, typer.Option(help="Fit even with too few rows or a class missing.")] = False,
    alpha: Annotated[float, typer.Option(help="APS miscoverage: sets aim at 1 - alpha coverage.")] = 0.1,
    base_url: Annotated[str | None, typer.Option(help=_BASE_URL_HELP)] = None,
    model_name: Annotated[str | None, typer.Option(help=_MODEL_NAME_HELP)] = None,
    dtype: Annotated[str | None, typer.Option(help="--backend llm: float32 or bfloat16, the precision the adapter "
                                              "is then served at (written into its formwhy.json with T); "
                                              "default: the manifest's inference_dtype.")] = None,
) -> None:
    """Fit temperature and vector scaling and APS sets on validation data; store them beside the model."""
    from formwhy._fsutil import sha256_file
    from formwhy.calibration import CalibrationError
    from formwhy.calibrator import Calibrator, calibration_dir

    if not 0 < alpha < 1:
        fail("--alpha must be in (0, 1)")
    for file in data:
        _refuse_test_file(file, "calibrate")
    examples = _read_pooled(data)
    from formwhy.dataset import pooled_name

    name = pooled_name(data)  # one file: its path; several: 'a + b', and their hashes likewise
    digest = pooled_name(sha256_file(p) for p in data)
    be, path, _ = _load_backend(backend, model, base_url, model_name, dtype=dtype)
    if path is None:
        fail(f"backend {backend!r} has no model directory to store calibration.json in; pass --model")
    preds = _predict(be, [ex.trace for ex in examples], what="calibrating on")
    try:
        cal = Calibrator(alpha=alpha).fit(preds, [ex.y for ex in examples], force=force)
    except CalibrationError as exc:
        fail(f"{name}: {exc}".replace("Pass force=True", "Pass --force"))
    where = cal.save(calibration_dir(path), backend=backend, model=be.model_id, data=name, data_sha256=digest)
    manifest = calibration_dir(path) / "formwhy.json"
    if manifest.exists():  # an LLM adapter: its manifest carries the temperature too (for vLLM / llama.cpp clients)
        from formwhy._fsutil import atomic_write_text

        m = json.loads(manifest.read_text(encoding="utf-8"))
        m["temperature"] = round(float(cal.T), 6)
        if backend == "llm":  # T holds for the precision it was fitted at: serve at that one
            m["inference_dtype"] = be.dtype  # type: ignore[attr-defined]
        m["calibration"] = {"data": name, "data_sha256": digest, "n": len(examples),
                            "backend": backend, "file": "calibration.json"}
        atomic_write_text(manifest, json.dumps(m, indent=2) + "\n")
    console.print(f"T = {cal.T:.4f}; NLL {cal.info['nll']['raw']:.4f} -> {cal.info['nll']['temperature']:.4f} "
                  f"(temperature), {cal.info['nll']['vector']:.4f} (vector)")
    _print_calibration(cal)
    console.print(f"wrote {where}")


def _load_traces(files: list[Path]):  # noqa: ANN202
    """[(source, trace, label or None)] from .json / .jsonl files; every problem listed, then exit 1."""
    from formwhy.taxonomy import NAMES
    from formwhy.trace import TraceValidationError, iter_json_documents, parse_trace, unwrap_trace

    items, problems = [], []
    for path in files:
        if not path.exists():
            problems.append(f"{path}: no such file")
            continue
        if path.is_dir():
            problems.append(f"{path}: is a folder, not a trace file")
            continue
        try:
            docs = list(iter_json_documents(path))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        if not docs:
            problems.append(f"{path}: empty file")
        for where, doc in docs:
            if isinstance(doc, json.JSONDecodeError):
                problems.append(f"{where}: not valid JSON: {doc}")
                continue
            label = doc.get("label") if isinstance(doc, dict) and "trace" in doc and "schema" not in doc else None
            if label is not None and label not in NAMES:
                problems.append(f"{where}: label {label!r} is not one of {', '.join(NAMES)}")
                continue
            try:
                items.append((where, parse_trace(unwrap_trace(doc)), label))
            except TraceValidationError as exc:
                problems.append(f"{where}: invalid trace:\n  " + "\n  ".join(exc.errors))
    if problems:
        for line in problems:
            err.print(f"[bold red]error:[/] {line}", highlight=False, markup=True)
        raise typer.Exit(1)
    return items


@app.command()
def classify(
    files: Annotated[list[Path], typer.Argument(help="Trace .json files (bare traces or labelled examples) or "
                                                     ".jsonl files (one per line).")],
    backend: Annotated[str, typer.Option(help="Backend name: llm (the shipped fine-tuned adapter), features (the "
                                              "fast feature model), openai, workers-ai.")] = "llm",
    model: Annotated[Path | None, typer.Option(help="Model path (default: the backend's default).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per trace instead of a table.")] = False,
    reasoning: Annotated[bool, typer.Option("--reasoning", help="Ask the backend for a short reasoning.")] = False,
    method: Annotated[str, typer.Option(help="Calibration: temperature or vector.")] = "temperature",
    base_url: Annotated[str | None, typer.Option(help=_BASE_URL_HELP)] = None,
    model_name: Annotated[str | None, typer.Option(help=_MODEL_NAME_HELP)] = None,
) -> None:
    """Why did each visitor leave? Class, calibrated probability, prediction set and recovery flow."""
    from formwhy.calibrator import METHODS
    from formwhy.taxonomy import CLASSES, NAMES

    if method not in METHODS:
        fail(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    items = _load_traces(files)
    be, _, cal = _load_backend(backend, model, base_url, model_name)
    preds = _predict(be, [tr for _, tr, _ in items], reasoning=reasoning, what="classifying")
    probs = cal.apply(preds, method=method)
    sets = cal.sets(cal.apply(preds, method="temperature")) if cal.has_sets else [None] * len(items)
    rows = []
    for (where, _, label), pred, p, s in zip(items, preds, probs, sets, strict=True):
        k = int(p.argmax())
        cls = CLASSES[k]
        row = {"source": where, "class": cls.name, "digit": cls.digit, "probability": float(p[k]),
               "raw_probability": float(pred.probs[k]), "calibrated": cal.is_fitted,
               "calibration": method if cal.is_fitted else None,
               "prediction_set": None if s is None else [NAMES[i] for i in s],
               "recovery_flow": cls.recovery_flow, "recovery": cls.recovery,
               "probs": {n: round(float(v), 6) for n, v in zip(NAMES, p, strict=True)},
               "backend": be.name, "latency_ms": round(pred.latency_ms, 3)}
        if reasoning:
            row["reasoning"] = pred.reasoning
        if pred.verbalized is not None:
            row["verbalized"] = pred.verbalized
        if label is not None:
            row["label"] = label
            row["correct"] = label == cls.name
        rows.append(row)
    if json_out:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    title = f"{be.name}: {be.model_id}" + ("" if cal.is_fitted else " [yellow](uncalibrated: probabilities are raw)")
    table = Table(title=title)
    for col in ("trace", "class", "p" if cal.is_fitted else "p (raw)", "set (90 %)", "recovery flow"):
        table.add_column(col, overflow="fold")
    has_labels = any(r.get("label") for r in rows)
    if has_labels:
        table.add_column("label")
    if reasoning:
        table.add_column("reasoning", overflow="fold")
    for r in rows:
        cells = [r["source"], r["class"], f"{r['probability']:.3f}",
                 "—" if r["prediction_set"] is None else ", ".join(r["prediction_set"]), r["recovery_flow"]]
        if has_labels:
            lab = r.get("label") or ""
            cells.append(lab if not lab else (f"[green]{lab}[/]" if r["correct"] else f"[red]{lab}[/]"))
        if reasoning:
            cells.append(r.get("reasoning") or "")
        table.add_row(*cells)
    console.print(table)


@app.command("evaluate")
def evaluate_cmd(
    data: Annotated[list[Path], typer.Option(help="Labelled JSONL to evaluate on; repeat it to pool several sets "
                                                  "into one evaluation (ids must not repeat).")],
    out: Annotated[Path, typer.Option(help="Output folder (replaced when it holds an earlier evaluation).")],
    backend: Annotated[str, typer.Option(help="Backend name.")] = "features",
    model: Annotated[Path | None, typer.Option(help="Model path (default: the backend's default).")] = None,
    bins: Annotated[int, typer.Option(help="ECE bins (equal width).")] = 15,
    boot: Annotated[int, typer.Option(help="Bootstrap resamples for the 95 % intervals.")] = 1000,
    method: Annotated[str, typer.Option(help="Calibration shown as 'calibrated': temperature or vector.")
                      ] = "temperature",
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    base_url: Annotated[str | None, typer.Option(help=_BASE_URL_HELP)] = None,
    model_name: Annotated[str | None, typer.Option(help=_MODEL_NAME_HELP)] = None,
    verbalized: Annotated[bool, typer.Option("--verbalized", help="Also generate each answer's JSON and compare its "
                                                                   "stated confidence (LLM backends; slow on a CPU)."
                                             )] = False,
    dtype: Annotated[str | None, typer.Option(help="--backend llm: float32 or bfloat16 (default: the manifest's "
                                              "inference_dtype, the precision its T was fitted at).")] = None,
) -> None:
    """Metrics (ECE with bootstrap intervals, accuracy, macro-F1, NLL, Brier, APS), report, per-example predictions
    and figures."""
    from formwhy._fsutil import atomic_dir, check_replaceable
    from formwhy.calibrator import METHODS
    from formwhy.evaluate import OUTPUT_FILES, evaluate, write_outputs

    if bins < 1:
        fail("--bins must be at least 1")
    if boot < 1:
        fail("--boot must be at least 1")
    if method not in METHODS:
        fail(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    try:
        check_replaceable(out, ("metrics.json",))
    except FileExistsError as exc:
        fail(str(exc))
    examples = _read_pooled(data)
    from formwhy.dataset import pooled_name

    name = pooled_name(data)
    be, _, cal = _load_backend(backend, model, base_url, model_name, dtype=dtype)
    from formwhy.progress import progress

    batch = 256 if backend == "features" else 8
    try:
        with progress(f"{backend} on {' + '.join(p.name for p in data)}", len(examples), console=err,
                      disable=len(examples) <= batch) as advance:
            metrics, arrays = evaluate(be, examples, cal, n_bins=bins, n_boot=boot, method=method, seed=seed,
                                       data=name, batch_size=batch, verbalized=verbalized, on_batch=advance)
    except Exception as exc:  # noqa: BLE001 - a backend failure mid-run: nothing has been written
        fail(f"evaluation failed: {exc}")
    if getattr(be, "dtype", None):
        metrics["dtype"] = be.dtype  # the precision the LLM ran at (its T holds for the one it was fitted at)
    with atomic_dir(out, markers=("metrics.json",)) as tmp:
        write_outputs(tmp, metrics, arrays)
    _print_eval(metrics)
    console.print(f"wrote {out}/ ({', '.join(OUTPUT_FILES)})")


def _print_eval(metrics: dict) -> None:
    table = Table(title=f"{metrics['backend']} on {metrics['data']} (n = {metrics['n']}; ECE: {metrics['n_bins']} "
                        f"bins, {metrics['binning'].replace('_', ' ')}, 95 % bootstrap CI)")
    for col in ("method", "ECE [95 % CI]", "accuracy", "macro-F1", "NLL", "Brier", "APS cov.", "APS size"):
        table.add_column(col, justify="right" if col != "method" else "left")

    def f(x, nd=3):  # noqa: ANN001, ANN202
        return "—" if x is None else f"{x:.{nd}f}"

    for key in ("verbalized", "raw", "calibrated", "vector"):
        r = metrics["methods"].get(key)
        if r is None:
            continue
        ci = r.get("ece_ci") or [None, None]
        table.add_row(key, f"{r['ece']:.3f} [{f(ci[0])}, {f(ci[1])}]", f(r.get("accuracy")), f(r.get("macro_f1")),
                      f(r.get("nll")), f(r.get("brier")), f(r.get("aps_coverage")), f(r.get("aps_mean_set_size"), 2))
    console.print(table)
    if not metrics["calibrated"]:
        err.print("[yellow]note:[/] the model has no calibration.json: 'calibrated' equals raw "
                  "(run `formwhy calibrate`)")


# --- the LLM path: base models and LoRA training ---------------------------------------------------------------

from formwhy.llm.cli import models_app, train_llm  # noqa: E402

app.add_typer(models_app, name="models")
train_app.command("llm")(train_llm)


# --- the HTTP service (docs/service.md) ------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    backend_config: Annotated[Path | None, typer.Option(help="Service config (.json or .toml): backends, routing "
                                                              "policy, limits; see docs/service.md.")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve without an API key (local experiments only).")]
    = False,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the HTTP API (POST /v1/classify, /v1/classify/batch, /healthz, /metrics, /docs, /demo) with uvicorn.

    The API key comes from FORMWHY_API_KEY (or api_key in the config file); requests send it as
    'Authorization: Bearer <key>'.
    """
    import logging

    import uvicorn

    from formwhy.service import create_app, load_config

    if backend_config is not None and not backend_config.exists():
        fail(f"{backend_config}: no such file")
    try:
        config = load_config(backend_config, auth_disabled=True if no_auth else None)
        application = create_app(config)
    except ValueError as exc:
        fail(str(exc))
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.auth_disabled:
        err.print("[bold red]WARNING: authentication is DISABLED (--no-auth): anyone who can reach "
                  f"{host}:{port} can classify traces[/]", highlight=False)
    # access_log off: uvicorn's access log prints query strings, which hold beacon tokens
    uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)


@app.command("export")
def export_cmd(
    target: Annotated[str, typer.Option(help="vllm, llamacpp or workers-ai.")],
    out: Annotated[Path, typer.Option(help="Output folder (new or empty; --force replaces it).")],
    model: Annotated[Path, typer.Option(help="The LoRA adapter folder.")] = Path("adapters/gemma3-270m-formwhy"),
    max_lora_rank: Annotated[int, typer.Option(help="vllm: the server's --max-lora-rank.")] = 16,
    workers_base: Annotated[str | None, typer.Option(help="workers-ai: the catalog base model "
                                                          "(e.g. @cf/google/gemma-2b-it-lora).")] = None,
    fetch_converter: Annotated[bool, typer.Option(help="llamacpp: download llama.cpp's convert_lora_to_gguf.py "
                                                       "(llama-cpp-python sdist) when it is not cached.")] = False,
    force: Annotated[bool, typer.Option(help="Replace a non-empty --out.")] = False,
) -> None:
    """Check an adapter against a serving target's rules, then write what the target loads (refuses with reasons)."""
    from formwhy.export import TARGETS, ExportRefused, export

    if target not in TARGETS:
        fail(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    try:
        result = export(target, model, out, max_lora_rank=max_lora_rank, workers_base=workers_base, force=force,
                        fetch_converter=fetch_converter)
    except (ExportRefused, FileExistsError, FileNotFoundError, RuntimeError) as exc:
        fail(str(exc))
    console.print(f"wrote {out}/ ({', '.join(result['files'])})", highlight=False)
    console.print(f"next: {result['next']}", highlight=False, markup=False)


if __name__ == "__main__":  # pragma: no cover
    app()
