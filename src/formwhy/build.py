"""``formwhy data build``: generate, deduplicate, split and summarise the synthetic datasets.

Defaults follow the seed: 1100 generated examples, exact deduplication on the canonical JSON of the trace, about
108 for validation and about 110 for the synthetic test set, the rest for training; the class mix follows the
default traffic prior (imbalanced on purpose).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formwhy.dataset import Example, class_counts, dedup, example_from_json, split, write_examples
from formwhy.simulate import Simulator
from formwhy.taxonomy import DEFAULT_PRIOR

DEFAULT_OUT = Path("data/synthetic")


@dataclass
class BuildReport:
    source: str
    generated: int
    kept: int
    duplicates: int
    invalid: int
    splits: dict[str, int]
    counts: dict[str, dict[str, int]]
    seconds: float
    out_dir: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def simulated_examples(n: int, seed: int, prior: dict[str, float], hard_share: float) -> list[Example]:
    sim = Simulator(seed=seed, prior=prior, hard_share=hard_share)
    out = []
    for i, s in enumerate(sim.generate(n)):
        doc = {"id": f"sim-{seed}-{i}", "label": s.label, "trace": s.trace, "reasoning": s.reasoning,
               "confidence": s.confidence, "hard": s.hard, "source": "simulator"}
        out.append(example_from_json(doc, f"simulator #{i}"))
    return out


def build(examples: list[Example], *, source: str, out_dir: Path, n_val: int, n_test: int, seed: int,
          invalid: int = 0, t0: float | None = None) -> BuildReport:
    t0 = time.perf_counter() if t0 is None else t0
    generated = len(examples) + invalid
    kept, dropped = dedup(examples)
    if len(kept) < n_val + n_test + 6:
        raise ValueError(f"only {len(kept)} unique examples: too few for {n_val} validation + {n_test} test")
    train, val, test = split(kept, n_val, n_test, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = {"train": train, "validation": val, "test": test}
    for name, part in parts.items():
        write_examples(out_dir / f"{name}.jsonl", part)
    report = BuildReport(
        source=source, generated=generated, kept=len(kept), duplicates=dropped, invalid=invalid,
        splits={k: len(v) for k, v in parts.items()},
        counts={k: class_counts(v) for k, v in parts.items()},
        seconds=round(time.perf_counter() - t0, 2), out_dir=str(out_dir),
    )
    (out_dir / "summary.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def build_simulated(out_dir: Path = DEFAULT_OUT, n: int = 1100, seed: int = 0, n_val: int = 108,
                    n_test: int = 110, prior: dict[str, float] | None = None, hard_share: float = 0.25
                    ) -> BuildReport:
    t0 = time.perf_counter()
    examples = simulated_examples(n, seed, prior or DEFAULT_PRIOR, hard_share)
    return build(examples, source="simulator", out_dir=out_dir, n_val=n_val, n_test=n_test, seed=seed, t0=t0)
