"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def features_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A calibrated ``features`` model: ``models/features`` when it was built (`formwhy train features`), else a
    small one trained here on simulated traces (a few seconds), so the service tests run on a fresh checkout."""
    built = ROOT / "models" / "features"
    if (built / "formwhy.json").exists() and (built / "calibration.json").exists():
        return built
    from formwhy.backends.features import train_and_save
    from formwhy.build import simulated_examples
    from formwhy.calibrator import Calibrator
    from formwhy.dataset import write_examples
    from formwhy.taxonomy import DEFAULT_PRIOR

    root = tmp_path_factory.mktemp("service-model")
    val = simulated_examples(200, seed=202, prior=DEFAULT_PRIOR, hard_share=0.25)
    write_examples(root / "train.jsonl", simulated_examples(600, seed=201, prior=DEFAULT_PRIOR, hard_share=0.25))
    write_examples(root / "validation.jsonl", val)

    def calibrate(model, tmp: Path) -> None:  # noqa: ANN001
        preds = model.predict([ex.trace for ex in val])
        Calibrator().fit(preds, [ex.y for ex in val], force=True).save(tmp, backend="features")

    train_and_save(root / "train.jsonl", root / "validation.jsonl", root / "model",
                   params={"max_iter": 80, "learning_rate": 0.12}, before_commit=calibrate)
    return root / "model"
