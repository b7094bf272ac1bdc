"""The features backend (FeatureModel), its persistence, the backend registry and the Calibrator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from formwhy.backends import Backend, BackendError, Prediction, UnknownBackendError, load_backend, register_backend
from formwhy.backends import registry as reg
from formwhy.backends.features import (
    MANIFEST_FILE,
    MODEL_FILE,
    TRUSTED_TYPES,
    FeatureModel,
    _single_thread,
    train_and_save,
)
from formwhy.build import simulated_examples
from formwhy.calibration import CalibrationError
from formwhy.calibrator import CALIBRATION_FILE, Calibrator
from formwhy.dataset import Example, write_examples
from formwhy.features import N_FEATURES, extract
from formwhy.taxonomy import DEFAULT_PRIOR, NAMES, NUM_CLASSES
from formwhy.trace import example_traces

FAST = {"max_iter": 60, "learning_rate": 0.12}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("fm")
    train = simulated_examples(420, seed=101, prior=DEFAULT_PRIOR, hard_share=0.25)
    val = simulated_examples(120, seed=102, prior=DEFAULT_PRIOR, hard_share=0.25)
    held = simulated_examples(150, seed=103, prior=DEFAULT_PRIOR, hard_share=0.25)
    write_examples(root / "train.jsonl", train)
    write_examples(root / "validation.jsonl", val)
    model = train_and_save(root / "train.jsonl", root / "validation.jsonl", root / "model", params=FAST)
    return {"root": root, "model": model, "train": train, "val": val, "held": held}


def _y(examples: list[Example]) -> np.ndarray:
    return np.array([ex.y for ex in examples])


def test_predict_follows_the_backend_contract(data: dict) -> None:
    model: FeatureModel = data["model"]
    traces = list(example_traces().values())
    assert isinstance(model, Backend) and model.name == "features" and "features:" in model.model_id
    preds = model.predict(traces)
    assert len(preds) == len(traces) and all(isinstance(p, Prediction) for p in preds)
    for p in preds:
        assert p.probs.shape == (NUM_CLASSES,) and abs(p.probs.sum() - 1) < 1e-9
        np.testing.assert_allclose(np.exp(p.logits), p.probs, atol=1e-9)
        assert p.latency_ms > 0 and p.reasoning is None and p.verbalized is None
    assert model.predict([]) == []
    with_reason = model.predict(traces, reasoning=True)
    assert all(isinstance(p.reasoning, str) and p.reasoning.endswith(".") for p in with_reason)
    np.testing.assert_allclose(np.stack([p.probs for p in preds]), np.stack([p.probs for p in with_reason]))


def test_flat_forest_matches_scikit_learn(data: dict) -> None:
    model: FeatureModel = data["model"]
    X = extract([ex.trace for ex in data["held"]])
    rng = np.random.default_rng(0)
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.2] = np.nan
    assert model._flat is not None
    with _single_thread():  # scikit-learn's OpenMP pool stalls on a busy machine
        for M in (X[:40], X_nan[:40]):
            np.testing.assert_allclose(model._flat.predict_proba(M), model.estimator.predict_proba(M), atol=1e-12)


def test_accuracy_floor_on_held_out_simulated(data: dict) -> None:
    model: FeatureModel = data["model"]
    held = data["held"]
    probs = np.stack([p.probs for p in model.predict([ex.trace for ex in held])])
    acc = float((probs.argmax(1) == _y(held)).mean())
    assert acc >= 0.85, acc


def test_manifest_and_round_trip(data: dict) -> None:
    root: Path = data["root"]
    man = json.loads((root / "model" / MANIFEST_FILE).read_text())
    for key in ("backend", "feature_names", "classes", "train", "validation", "metrics", "created",
                "formwhy_version", "model_sha256", "params"):
        assert key in man, key
    assert man["backend"] == "features" and man["classes"] == list(NAMES) and len(man["feature_names"]) == N_FEATURES
    assert man["train"]["path"].endswith("train.jsonl") and len(man["train"]["sha256"]) == 64
    assert set(man["metrics"]["validation"]) >= {"accuracy", "macro_f1", "nll", "ece"}
    loaded = FeatureModel.load(root / "model")
    traces = [ex.trace for ex in data["held"][:30]]
    a = np.stack([p.probs for p in data["model"].predict(traces)])
    b = np.stack([p.probs for p in loaded.predict(traces)])
    np.testing.assert_array_equal(a, b)
    assert load_backend("features", root / "model").predict(traces[:1])[0].probs.tolist() == a[0].tolist()


def _copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in (MODEL_FILE, MANIFEST_FILE):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_load_refuses_untrusted_types(data: dict, tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from formwhy._fsutil import sha256_file

    d = _copy_model(data["root"] / "model", tmp_path / "m")
    sio.dump(FunctionTransformer(func=json.loads), d / MODEL_FILE)  # json.loads: not a trusted type
    man = json.loads((d / MANIFEST_FILE).read_text())
    man["model_sha256"] = sha256_file(d / MODEL_FILE)  # so that the type check, not the hash, refuses it
    (d / MANIFEST_FILE).write_text(json.dumps(man))
    with pytest.raises(BackendError, match="untrusted types json.loads"):
        FeatureModel.load(d)
    assert "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor" in TRUSTED_TYPES


def test_load_refuses_tampering_and_stale_features(data: dict, tmp_path: Path) -> None:
    d = _copy_model(data["root"] / "model", tmp_path / "m")
    with (d / MODEL_FILE).open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(BackendError, match="sha256"):
        FeatureModel.load(d)
    d2 = _copy_model(data["root"] / "model", tmp_path / "m2")
    man = json.loads((d2 / MANIFEST_FILE).read_text())
    man["feature_names"] = man["feature_names"][:-1]
    (d2 / MANIFEST_FILE).write_text(json.dumps(man))
    with pytest.raises(BackendError, match="different feature set"):
        FeatureModel.load(d2)
    with pytest.raises(BackendError, match="formwhy train features"):
        FeatureModel.load(tmp_path / "nothing")


def test_registry(tmp_path: Path) -> None:
    with pytest.raises(UnknownBackendError, match="unknown backend 'nope'; available: .*features"):
        load_backend("nope")
    with pytest.raises(BackendError, match="run `formwhy train features`"):
        load_backend("features", tmp_path / "missing")
    with pytest.raises(ValueError, match="already registered"):
        register_backend("features", lambda p: None)  # type: ignore[arg-type,return-value]
    try:
        register_backend("dummy_test", lambda p: ("loaded", p), default_model="x/y")  # type: ignore[arg-type]
        assert load_backend("dummy_test") == ("loaded", Path("x/y"))
        assert "dummy_test" in reg.backend_names()
    finally:
        reg._REGISTRY.pop("dummy_test", None)


def test_calibrator_fit_apply_sets_save_load(data: dict, tmp_path: Path) -> None:
    model: FeatureModel = data["model"]
    val, held = data["val"], data["held"]
    preds = model.predict([ex.trace for ex in val])
    cal = Calibrator().fit(preds, _y(val))
    assert cal.is_fitted and cal.has_sets and cal.T is not None and cal.T > 0
    assert cal.info["nll"]["temperature"] <= cal.info["nll"]["raw"] + 1e-12
    hp = model.predict([ex.trace for ex in held])
    for method in ("temperature", "vector"):
        p = cal.apply(hp, method=method)
        assert p.shape == (len(held), NUM_CLASSES) and np.allclose(p.sum(1), 1)
    sets = cal.sets(cal.apply(hp))
    assert all(1 <= len(s) <= NUM_CLASSES for s in sets) and sets == cal.sets(cal.apply(hp))
    path = cal.save(tmp_path, backend="features", model="m")
    assert path == tmp_path / CALIBRATION_FILE
    back = Calibrator.load(tmp_path)
    np.testing.assert_allclose(back.apply(hp), cal.apply(hp))
    np.testing.assert_allclose(back.apply(hp, method="vector"), cal.apply(hp, method="vector"))
    assert back.sets(back.apply(hp)) == sets and back.info["meta"]["backend"] == "features"
    ident = Calibrator.load(tmp_path / "none")
    assert not ident.is_fitted and not ident.has_sets
    np.testing.assert_allclose(ident.apply(hp), np.stack([p.probs for p in hp]), atol=1e-9)
    with pytest.raises(CalibrationError):
        ident.sets(ident.apply(hp))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CALIBRATION_FILE).write_text("{")
    with pytest.raises(ValueError, match="unreadable calibration"):
        Calibrator.load(tmp_path / "bad")


def test_calibrator_guards(data: dict) -> None:
    model: FeatureModel = data["model"]
    few = data["val"][:20]
    preds = model.predict([ex.trace for ex in few])
    with pytest.raises(CalibrationError, match="refusing to fit"):
        Calibrator().fit(preds, _y(few))
    cal = Calibrator().fit(preds, _y(few), force=True)
    assert cal.is_fitted and cal.info["forced"]
