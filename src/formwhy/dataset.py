"""Labelled examples and the JSONL files that hold them.

One line per example: ``{"id", "label", "trace", "reasoning", "confidence", ...}``. Readers need only ``label``
and ``trace``; every other key is optional and unknown keys are ignored. The trace is validated on read.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formwhy.taxonomy import NAMES, by_name
from formwhy.trace import Trace, TraceValidationError, canonical_json, parse_trace


class DatasetError(ValueError):
    """A labelled file or line that cannot be used; the message names the file and line."""


@dataclass
class Example:
    trace: Trace
    label: str
    id: str = ""
    reasoning: str = ""
    confidence: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "label": self.label, "trace": self.trace.to_dict()}
        if self.reasoning:
            out["reasoning"] = self.reasoning
        if self.confidence is not None:
            out["confidence"] = self.confidence
        out.update(self.extra)
        return out

    @property
    def y(self) -> int:
        return by_name(self.label).digit - 1


def example_from_json(doc: Any, where: str = "") -> Example:
    if not isinstance(doc, dict):
        raise DatasetError(f"{where}: a labelled example must be an object")
    for key in ("label", "trace"):
        if key not in doc:
            raise DatasetError(f"{where}: missing {key!r} (a labelled example needs 'label' and 'trace')")
    label = doc["label"]
    if label not in NAMES:
        raise DatasetError(f"{where}: label {label!r} is not one of {', '.join(NAMES)}")
    try:
        trace = parse_trace(doc["trace"])
    except TraceValidationError as exc:
        raise DatasetError(f"{where}: trace: " + "; ".join(exc.errors)) from None
    conf = doc.get("confidence")
    known = {"id", "label", "trace", "reasoning", "confidence"}
    return Example(
        trace=trace,
        label=label,
        id=str(doc.get("id", "")),
        reasoning=str(doc.get("reasoning", "") or ""),
        confidence=float(conf) if isinstance(conf, int | float) and not isinstance(conf, bool) else None,
        extra={k: v for k, v in doc.items() if k not in known},
    )


def _labelled_lines(path: Path | str) -> Iterator[tuple[int, str, Example]]:
    """(line number, the line as written, its example) for each non-blank line of a labelled JSONL file; every
    problem, an unreadable file included, is a ``DatasetError`` naming the file (and line)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
                yield lineno, line, example_from_json(doc, f"{path}:{lineno}")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc


def iter_examples(path: Path | str) -> Iterator[Example]:
    for _, _, ex in _labelled_lines(path):
        yield ex


POOL_SEP = " + "  # how pooled files are named in metrics, manifests and tables: 'a.jsonl + b.jsonl'


def pooled_name(parts: Iterable[object]) -> str:
    """One name for pooled ``--data`` files (or their hashes): one file is its path, several are joined by
    :data:`POOL_SEP`. :func:`pooled_parts` reads it back."""
    return POOL_SEP.join(str(p) for p in parts)


def pooled_parts(name: str) -> list[str]:
    """The file names inside a :func:`pooled_name`."""
    return name.split(POOL_SEP)


def is_test_set(path: Path | str) -> bool:
    """True for a file that is for evaluation only: a ``test*`` file (the synthetic split, ``data/real/test-b``) or
    any file below a ``real/`` folder as given, or below ``data/real`` once resolved (the hand-written sets, also
    when reached by a relative path from inside them). Training, validation and calibration refuse these."""
    path = Path(path)
    resolved = path.resolve().parts
    return (path.name.startswith("test") or "real" in path.parts
            or any(a == "data" and b == "real" for a, b in zip(resolved, resolved[1:], strict=False)))


def refuse_test_set(path: Path | str, what: str) -> None:
    """Raise :class:`DatasetError` when ``path`` is a test set (see :func:`is_test_set`); ``what`` is the verb."""
    if is_test_set(path):
        raise DatasetError(f"{path}: refusing to {what} on a test set (test sets are for `formwhy evaluate` only)")


def read_examples(path: Path | str) -> list[Example]:
    examples = list(iter_examples(path))
    if not examples:
        raise DatasetError(f"{path}: no examples")
    return examples


def _distinct_files(paths: Iterable[Path | str], prefix: str, verb: str) -> None:
    """A ``DatasetError`` when one file is given twice (by any spelling of its path)."""
    seen: dict[Path, Path | str] = {}
    for path in paths:
        key = Path(path).resolve()
        if key in seen:
            raise DatasetError(f"{prefix}{path} is given twice (as {seen[key]} before): each file may be {verb} once")
        seen[key] = path


def read_pooled(paths: Sequence[Path | str], option: str = "--data") -> list[Example]:
    """The labelled examples of one or more files, read as one set, in order.

    A file given twice, a pooled file whose path contains ``POOL_SEP`` (it names the pooled set), or an id that
    appears twice (in one file or in two) is a ``DatasetError`` naming where; examples without an id are not
    checked. ``option`` names the command-line option in the messages."""
    if len(paths) > 1:
        for path in paths:
            if POOL_SEP in str(path):
                raise DatasetError(f"{option} {path}: a pooled file's path must not contain {POOL_SEP!r} "
                                   "(it names the pooled set)")
    _distinct_files(paths, f"{option} ", "pooled")
    examples: list[Example] = []
    where: dict[str, Path | str] = {}
    for path in paths:
        for ex in read_examples(path):
            if ex.id and ex.id in where:
                if where[ex.id] == path:
                    raise DatasetError(f"{path}: id {ex.id!r} appears twice in this file: ids must be unique")
                raise DatasetError(f"{path}: id {ex.id!r} is also in {where[ex.id]}: pooled sets must not share ids")
            where[ex.id] = path
            examples.append(ex)
    return examples


def mix_lines(parts: Sequence[tuple[Path | str, int | None]]) -> list[list[tuple[str, Example]]]:
    """A training mix, one list per file: its first ``n`` labelled examples (all of them where ``n`` is None), in
    order, each with its line kept byte for byte (so the mix's lines equal ``head -n N A; cat B``).

    A ``DatasetError`` names the problem: a file given twice, a file with fewer examples than asked, an invalid line,
    an id that appears twice (in one file or in two)."""
    _distinct_files([path for path, _ in parts], "", "mixed")
    mix: list[list[tuple[str, Example]]] = []
    where: dict[str, str] = {}
    for path, n in parts:
        if n is not None and n < 1:
            raise DatasetError(f"{path}:{n}: the number of examples to take must be at least 1")
        taken: list[tuple[str, Example]] = []
        for lineno, line, ex in _labelled_lines(path):
            if n is not None and len(taken) == n:
                break
            if ex.id and ex.id in where:
                raise DatasetError(f"{path}:{lineno}: id {ex.id!r} is also in {where[ex.id]}: ids must be unique")
            where[ex.id] = f"{path}:{lineno}"
            taken.append((line.rstrip("\r\n") + "\n", ex))
        if not taken:
            raise DatasetError(f"{path}: no examples")
        if n is not None and len(taken) < n:
            raise DatasetError(f"{path}: has {len(taken)} examples, fewer than the {n} asked for")
        mix.append(taken)
    return mix


def write_examples(path: Path | str, examples: Iterable[Example]) -> int:
    """Write atomically (a temp file renamed into place), so a failed write never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def dedup(examples: Iterable[Example]) -> tuple[list[Example], int]:
    """Exact deduplication on the canonical JSON of the trace; returns (kept, number dropped)."""
    seen: set[str] = set()
    kept, dropped = [], 0
    for ex in examples:
        key = canonical_json(ex.trace)
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(ex)
    return kept, dropped


def split(examples: list[Example], n_val: int, n_test: int, seed: int) -> tuple[list[Example], ...]:
    """Stratified shuffle split into (train, validation, test) with about n_val / n_test examples."""
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    n = len(examples)
    train, val, test = [], [], []
    for label in NAMES:
        group = by_label.get(label, [])
        rng.shuffle(group)
        k_val = round(len(group) * n_val / n) if n else 0
        k_test = round(len(group) * n_test / n) if n else 0
        val += group[:k_val]
        test += group[k_val:k_val + k_test]
        train += group[k_val + k_test:]
    for part in (train, val, test):
        rng.shuffle(part)
    return train, val, test


def class_counts(examples: Iterable[Example]) -> dict[str, int]:
    counts = Counter(ex.label for ex in examples)
    return {name: counts.get(name, 0) for name in NAMES}
