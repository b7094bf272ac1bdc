"""``formwhy evaluate``: metrics, a markdown report and figures for one backend on one labelled JSONL file.

:func:`evaluate` runs the backend, applies the model's calibration (when it has one) and computes everything;
:func:`write_outputs` writes ``metrics.json``, ``report.md``, ``reliability.png``, ``confusion.png`` and
``risk_coverage.png`` into a folder. Every ECE states its bins (``n_bins``, equal width) and comes with a
percentile-bootstrap 95 % interval.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from formwhy import __version__
from formwhy.backends.base import Backend, Prediction, stack_probs
from formwhy.calibration import (
    aurc,
    confusion_matrix,
    coverage,
    ece_floor,
    mean_set_size,
    per_class,
    risk_coverage_curve,
    summarize,
    summarize_confidence,
)
from formwhy.calibrator import Calibrator
from formwhy.dataset import Example, pooled_name, pooled_parts
from formwhy.taxonomy import NAMES

BINNING = "equal_width"
OUTPUT_FILES = ("metrics.json", "report.md", "predictions.jsonl", "reliability.png", "confusion.png",
                "risk_coverage.png")


@dataclass
class EvalArrays:
    """What the figures need."""

    labels: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray
    calibrated_name: str
    verbalized: tuple[np.ndarray, np.ndarray] | None = None  # (confidence, correct)
    extra: dict[str, Any] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    preds: list[Prediction] = field(default_factory=list)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        v = float(x)
        return v if math.isfinite(v) else None
    return x


def _method_summary(probs: np.ndarray, y: np.ndarray, n_bins: int, n_boot: int, seed: int) -> dict[str, Any]:
    out = summarize(probs, y, n_bins=n_bins, n_boot=n_boot, seed=seed)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    out["aurc"] = aurc(conf, correct)
    out["mean_confidence"] = float(conf.mean())
    out["ece_floor"], out["ece_floor_hi"] = ece_floor(conf, n_bins, BINNING, seed=seed)
    return out


def evaluate(backend: Backend, examples: Sequence[Example], calibrator: Calibrator, *, n_bins: int = 15,
             n_boot: int = 1000, method: str = "temperature", seed: int = 0, data: str = "",
             batch_size: int = 256, verbalized: bool = False,
             on_batch: Callable[[int], None] | None = None) -> tuple[dict[str, Any], EvalArrays]:
    """Predict ``examples`` with ``backend`` and compute the metrics (see ``formwhy evaluate --help``).

    With ``verbalized`` the backend also generates its answer's JSON (reasoning and stated confidence), so the
    verbalized confidence is compared with the logprob ones; ``on_batch(n)`` is called after each batch of n traces.
    """
    y = np.array([ex.y for ex in examples], dtype=np.int64)
    preds: list[Prediction] = []
    traces = [ex.trace for ex in examples]
    for i in range(0, len(traces), batch_size):
        batch = traces[i:i + batch_size]
        preds.extend(backend.predict(batch, reasoning=verbalized))
        if on_batch is not None:
            on_batch(len(batch))
    if len(preds) != len(examples):
        raise RuntimeError(f"{backend.name}: {len(preds)} predictions for {len(examples)} traces")
    raw = stack_probs(preds)
    calibrated = calibrator.apply(preds, method=method)
    cal_name = f"calibrated ({method})" if calibrator.is_fitted else "calibrated (= raw: no calibration)"

    methods: dict[str, Any] = {"raw": _method_summary(raw, y, n_bins, n_boot, seed)}
    cal = _method_summary(calibrated, y, n_bins, n_boot, seed)
    cal["method"] = method
    if calibrator.is_fitted:
        sets = calibrator.sets(calibrator.apply(preds, method="temperature"))
        cal["aps_coverage"] = coverage(sets, y)
        cal["aps_mean_set_size"] = mean_set_size(sets)
        cal["aps_alpha"] = calibrator.alpha
        cal["aps_target_coverage"] = 1.0 - calibrator.alpha
        cal["temperature"] = calibrator.T
        cal["calibration_n"] = calibrator.info.get("n")
    else:
        cal.update({"aps_coverage": None, "aps_mean_set_size": None, "temperature": None,
                    "note": "no calibration.json beside the model: calibrated equals raw"})
    methods["calibrated"] = cal
    if calibrator.is_fitted and method != "vector":
        vec = _method_summary(calibrator.apply(preds, method="vector"), y, n_bins, n_boot, seed)
        vec["method"] = "vector"
        methods["vector"] = vec

    verbal = None
    idx = [i for i, p in enumerate(preds) if p.verbalized is not None]
    if idx:
        conf = np.array([min(1.0, max(0.0, float(preds[i].verbalized))) for i in idx])  # type: ignore[arg-type]
        vlabels = [preds[i].verbalized_label or NAMES[int(raw[i].argmax())] for i in idx]
        correct = np.array([vl == NAMES[y[i]] for vl, i in zip(vlabels, idx, strict=True)], dtype=bool)
        v = summarize_confidence(conf, correct, n_bins=n_bins, n_boot=n_boot, seed=seed)
        v["aurc"] = aurc(conf, correct)
        v["ece_floor"], v["ece_floor_hi"] = ece_floor(conf, n_bins, BINNING, seed=seed)
        v["n_answered"] = len(idx)
        methods["verbalized"] = v
        verbal = (conf, correct)

    pc = per_class(calibrated, y)
    lat = np.array([p.latency_ms for p in preds], dtype=np.float64)
    metrics: dict[str, Any] = {
        "n": int(len(y)),
        "backend": backend.name,
        "model": backend.model_id,
        "data": data,
        "n_bins": int(n_bins),
        "binning": BINNING,
        "n_boot": int(n_boot),
        "ci_level": 0.95,
        "calibrated": calibrator.is_fitted,
        "calibration_method": method if calibrator.is_fitted else None,
        "label_counts": {name: int((y == i).sum()) for i, name in enumerate(NAMES)},
        "methods": methods,
        "per_class": {name: {"precision": pc["precision"][i], "recall": pc["recall"][i], "f1": pc["f1"][i],
                             "support": int(pc["support"][i])} for i, name in enumerate(NAMES)},
        "per_class_from": "calibrated",
        "confusion": confusion_matrix(calibrated, y),
        "confusion_axes": "rows: true class, columns: predicted class, in digit order",
        "latency_ms": {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                       "mean": float(lat.mean()), "max": float(lat.max())},
        "aurc": methods["calibrated"]["aurc"],
        # with --verbalized: why answers could not be read (AnswerFormatError reasons, e.g. a JSON cut off)
        **({"verbalized_unparsed": dict(Counter(str(p.extra.get("answer_error", "none")) for p in preds
                                                if p.verbalized is None))} if verbalized else {}),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "formwhy_version": __version__,
    }
    arrays = EvalArrays(labels=y, raw=raw, calibrated=calibrated, calibrated_name=cal_name, verbalized=verbal,
                        ids=[ex.id for ex in examples], preds=preds)
    return _jsonable(metrics), arrays


# --- outputs ---------------------------------------------------------------------------------------------------


def _f(x: Any, nd: int = 3) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _ci(m: dict[str, Any], key: str) -> str:
    ci = m.get(f"{key}_ci")
    if m.get(key) is None:
        return "—"
    return f"{m[key]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{m[key]:.3f}"


def _floor(m: dict[str, Any]) -> str:
    return "—" if m.get("ece_floor") is None else f"{m['ece_floor']:.3f} (≤ {m['ece_floor_hi']:.3f})"


def render_report(metrics: dict[str, Any]) -> str:
    m = metrics["methods"]
    lines = [
        f"# formwhy evaluation: `{metrics['backend']}` on `{metrics['data']}`",
        "",
        f"- model: `{metrics['model']}`",
        f"- n = {metrics['n']} labelled traces; classes: "
        + ", ".join(f"{k} {v}" for k, v in metrics["label_counts"].items()),
        f"- ECE: top-label, **{metrics['n_bins']} bins, {metrics['binning'].replace('_', ' ')}**; intervals are "
        f"95 % percentile bootstrap over {metrics['n_boot']} resamples",
    ]
    cal = m["calibrated"]
    if metrics["calibrated"]:
        lines.append(f"- calibration: {cal['method']} scaling (T = {_f(cal.get('temperature'))}) fitted on "
                     f"{cal.get('calibration_n')} validation rows; APS sets at alpha = {cal.get('aps_alpha')} "
                     f"(target coverage {cal.get('aps_target_coverage')})")
    else:
        lines.append("- **uncalibrated**: no `calibration.json` beside the model, so *calibrated* equals *raw* "
                     "(run `formwhy calibrate`)")
    lines += ["", "| method | ECE [95 % CI] | ECE floor | accuracy | macro-F1 | NLL | Brier | AUROC | AURC "
                  "| APS coverage | APS mean set size |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    order = [k for k in ("verbalized", "raw", "calibrated", "vector") if k in m]
    for key in order:
        r = m[key]
        name = {"calibrated": f"calibrated ({r.get('method', '')})" if metrics["calibrated"] else
                "calibrated (= raw)", "vector": "vector scaling (extra)"}.get(key, key)
        if key == "verbalized":
            lines.append(f"| {name} | {_ci(r, 'ece')} | {_floor(r)} | {_f(r['accuracy'])} | — | — | {_f(r['brier'])} | "
                         f"{_f(r.get('auroc'))} | {_f(r.get('aurc'))} | — | — |")
            continue
        lines.append(f"| {name} | {_ci(r, 'ece')} | {_floor(r)} | {_f(r['accuracy'])} | {_f(r['macro_f1'])} | "
                     f"{_f(r['nll'])} | "
                     f"{_f(r['brier'])} | {_f(r.get('auroc'))} | {_f(r.get('aurc'))} | "
                     f"{_f(r.get('aps_coverage'))} | {_f(r.get('aps_mean_set_size'), 2)} |")
    lines.append("\nECE floor: the ECE a perfectly calibrated model with the same confidences would still show on "
                 "the traces that row scores (mean, and 95 % of simulations below the second figure). An ECE "
                 "near it means the set is too small to show a miscalibration.")
    if "verbalized" in m:
        unparsed = metrics.get("verbalized_unparsed") or {}
        why = ("; unreadable: " + ", ".join(f"{k} {n}" for k, n in sorted(unparsed.items()))) if unparsed else ""
        lines.append(f"\nVerbalized: the model's own stated confidence ({m['verbalized'].get('n_answered')} "
                     f"answers{why}); Brier there is binary (confidence vs correct).")
    lines += ["", f"Per class (from the {metrics['per_class_from']} probabilities):", "",
              "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, r in metrics["per_class"].items():
        lines.append(f"| {name} | {_f(r['precision'])} | {_f(r['recall'])} | {_f(r['f1'])} | {r['support']} |")
    lines += ["", "Confusion matrix (rows true, columns predicted):", "",
              "| true \\ predicted | " + " | ".join(NAMES) + " |", "|---" * (len(NAMES) + 1) + "|"]
    for name, row in zip(NAMES, metrics["confusion"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lat = metrics["latency_ms"]
    lines += ["", f"Latency per trace (wall time reported by the backend): p50 {lat['p50']:.3f} ms, "
                  f"p95 {lat['p95']:.3f} ms.", "",
              "Figures: `reliability.png` (" + ", ".join(order) + " side by side), `confusion.png`, "
              "`risk_coverage.png`.", ""]
    return "\n".join(lines)


def risk_coverage_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """Selective risk against coverage, one line per method (``{name: (confidence, correct)}``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    styles = ("-", "--", ":", "-.")
    for i, (name, (conf, correct)) in enumerate(curves.items()):
        cov, risk = risk_coverage_curve(conf, correct)
        ax.plot(cov, risk, styles[i % len(styles)], label=f"{name} (AURC {aurc(conf, correct):.3f})",
                drawstyle="steps-post", linewidth=1.6)
    ax.set_xlabel("coverage (share of traces kept, most confident first)")
    ax.set_ylabel("selective risk (error rate among kept)")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=9)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png")
    return path


def write_predictions(path: Path, arrays: EvalArrays) -> None:
    """One line per example: id, true and predicted class, raw and calibrated probabilities (digit order), the
    verbalized confidence and reasoning when generated. No trace content."""
    with path.open("w", encoding="utf-8") as f:
        for i, ex_id in enumerate(arrays.ids):
            pred = arrays.preds[i] if i < len(arrays.preds) else None
            row: dict[str, Any] = {"id": ex_id, "label": NAMES[int(arrays.labels[i])],
                                   "predicted": NAMES[int(arrays.calibrated[i].argmax())],
                                   "raw": [round(float(p), 6) for p in arrays.raw[i]],
                                   "calibrated": [round(float(p), 6) for p in arrays.calibrated[i]]}
            if pred is not None and pred.verbalized is not None:
                row.update(verbalized=pred.verbalized, verbalized_label=pred.verbalized_label,
                           reasoning=pred.reasoning)
            elif pred is not None and "answer_error" in pred.extra:
                row["answer_error"] = pred.extra["answer_error"]
            f.write(json.dumps(row) + "\n")


def write_outputs(out_dir: Path, metrics: dict[str, Any], arrays: EvalArrays) -> list[Path]:
    from formwhy.calibration import confusion_heatmap, reliability_diagram

    n_bins, n_boot = metrics["n_bins"], metrics["n_boot"]
    y = arrays.labels
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_report(metrics), encoding="utf-8")
    write_predictions(out_dir / "predictions.jsonl", arrays)
    panels: dict[str, tuple[Any, Any]] = {}
    if arrays.verbalized is not None:
        panels["verbalized"] = arrays.verbalized
    panels["raw"] = (arrays.raw, y)
    panels[arrays.calibrated_name] = (arrays.calibrated, y)
    names = pooled_name(Path(d).name or d for d in pooled_parts(metrics["data"]))  # pooled sets: 'a + b'
    head = f"{metrics['backend']} on {names} (n = {metrics['n']})"
    reliability_diagram(panels, out_dir / "reliability.png", n_bins=n_bins, n_boot=n_boot, title=head)
    confusion_heatmap(np.asarray(metrics["confusion"]), list(NAMES), out_dir / "confusion.png",
                      title=f"confusion, {arrays.calibrated_name}: {head}")
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if arrays.verbalized is not None:
        curves["verbalized"] = arrays.verbalized
    for name, p in (("raw", arrays.raw), (arrays.calibrated_name, arrays.calibrated)):
        curves[name] = (p.max(axis=1), p.argmax(axis=1) == y)
    risk_coverage_plot(curves, out_dir / "risk_coverage.png", f"risk-coverage: {head}")
    return [out_dir / f for f in OUTPUT_FILES]
