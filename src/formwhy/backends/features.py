"""The ``features`` backend: hand-made trace features (:mod:`formwhy.features`) and gradient boosting.

A scikit-learn ``HistGradientBoostingClassifier`` trained with balanced sample weights (the traffic prior is
imbalanced on purpose), a fixed number of boosting rounds (no early stopping, so the validation set stays free for
calibration). ``predict`` follows the backend contract (:mod:`formwhy.backends.base`): raw probabilities in
class-digit order and their logs as ``logits``.

A model directory holds:

* ``model.skops`` -- the fitted estimator, written with ``skops.io.dump`` and read back with ``skops.io.load`` and an
  explicit list of trusted types (:data:`TRUSTED_TYPES`); a file that needs any other type is refused, never
  unpickled;
* ``formwhy.json`` -- the manifest: backend, feature names, classes, training data path and sha256, metrics on
  validation, the per-feature baseline used for reasoning, the creation time and the formwhy version;
* ``calibration.json`` (optional, :mod:`formwhy.calibrator`).

With ``reasoning=True`` each prediction gets a short reasoning built from the feature groups that pushed the
predicted class most: each group is set back to its typical training value (the median, or "absent" when most
training traces lack it) and the drop in the log-odds of the class ranks the groups.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from formwhy import __version__
from formwhy._fsutil import atomic_dir, sha256_file
from formwhy.backends.base import BackendError, Prediction
from formwhy.dataset import Example
from formwhy.features import FEATURE_INDEX, FEATURE_NAMES, N_FEATURES, extract, extract_row
from formwhy.taxonomy import NAMES, NUM_CLASSES
from formwhy.trace import Trace

NAME = "features"
MODEL_FILE = "model.skops"
MANIFEST_FILE = "formwhy.json"
MANIFEST_FORMAT = "formwhy.model/v1"
DEFAULT_MODEL_DIR = Path("models/features")
#: The types beyond skops' defaults that a HistGradientBoostingClassifier needs; nothing else is loaded.
TRUSTED_TYPES: tuple[str, ...] = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.06,
    "max_iter": 200,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 8,
    "l2_regularization": 1.0,
    "max_features": 0.6,
    "early_stopping": False,
    "random_state": 0,
}
_EPS = 1e-12
FLAT_MAX_ROWS = 64  # above this, scikit-learn's own (compiled) prediction is faster
_THREADS: Any = None


def _single_thread() -> Any:
    """OpenMP limited to one thread: small predictions are faster without the thread pool, and steady on a busy
    machine."""
    global _THREADS
    from threadpoolctl import ThreadpoolController

    if _THREADS is None:
        _THREADS = ThreadpoolController()
    return _THREADS.limit(limits=1, user_api="openmp")


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1.0 - 1e-9)
    return np.log(p) - np.log1p(-p)


def _fmt_s(s: float) -> str:
    if s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _n(x: float) -> int:
    return int(round(x))


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _ok(x: float) -> bool:
    return x is not None and not math.isnan(x)


# --- reasoning -----------------------------------------------------------------------------------------------
# Each group: member features (set back to the baseline together) and a phrase made from the trace's features
# (an empty phrase means "nothing to say", e.g. the signal is absent and its absence is what helped).


def _ph_errors(d: dict[str, float]) -> str:
    n = _n(d["n_error_form"])
    if n == 0:
        return "no validation errors" if d["n_error"] == 0 else ""
    out = _plural(n, "validation error")
    fields = _n(d["n_error_fields"])
    if fields:
        out += f" on {_plural(fields, 'field')}"
    showing = _n(d["errors_showing_at_exit"])
    if showing:
        out += f" ({showing} still showing)"
    if _ok(d["s_last_error_to_exit"]):
        out += f"; left {_fmt_s(d['s_last_error_to_exit'])} after the last error"
    return out


def _ph_corrections(d: dict[str, float]) -> str:
    if d["n_len_to_zero_sensitive"] > 0 or d["n_len_to_zero_card"] > 0:
        return "typed into a sensitive field, then deleted it all"
    if d["n_len_decrease"] >= 2:
        return f"{_plural(_n(d['n_len_decrease']), 'correction')} while typing"
    return ""


def _ph_sensitive(d: dict[str, float]) -> str:
    if d["sens_dwell_low_input_max_s"] >= 3:
        return f"held a sensitive field for {_fmt_s(d['sens_dwell_low_input_max_s'])} with little or no input"
    if d["sens_focus_no_input"] > 0:
        return f"focused {_plural(_n(d['sens_focus_no_input']), 'sensitive field')} without typing"
    return ""


def _ph_clicks(kind: str, words: str) -> Callable[[dict[str, float]], str]:
    def ph(d: dict[str, float]) -> str:
        n = _n(d[f"click_{kind}"])
        return f"clicked {words} {_plural(n, 'time')}" if n else ""
    return ph


def _ph_password(d: dict[str, float]) -> str:
    if d["pw_fields"] == 0:
        return ""
    if d["pw_focused"]:
        typed = "nothing typed" if d["pw_typed_max_len"] == 0 else (
            "then cleared it" if d["pw_cleared"] else f"{_n(d['pw_typed_max_len'])} characters typed")
        out = f"focused a password field ({typed})"
        if _ok(d["s_last_pw_focus_to_exit"]):
            out += f" and left {_fmt_s(d['s_last_pw_focus_to_exit'])} later"
        return out
    if d["pw_step_last_view"]:
        return "stopped at the step that asks for a password"
    return ""


def _ph_failures(d: dict[str, float]) -> str:
    parts = []
    if d["n_response_fail"]:
        parts.append(_plural(_n(d["n_response_fail"]), "failed response"))
    if d["n_declined"]:
        parts.append("the payment was declined")
    if d["max_response_s"] >= 10:
        parts.append(f"a response took {_fmt_s(d['max_response_s'])}")
    if d["n_js_error"]:
        parts.append(_plural(_n(d["n_js_error"]), "script error"))
    out = ", ".join(parts)
    if out and _ok(d["s_last_failure_to_exit"]):
        out += f"; left {_fmt_s(d['s_last_failure_to_exit'])} after the last failure"
    return out


def _ph_submits(d: dict[str, float]) -> str:
    n = _n(d["max_submits_one_step"])
    if n >= 2:
        out = f"{n} submits of the same step"
        if d["n_rage_submits"]:
            out += f" ({_n(d['n_rage_submits'])} within 3 s of the previous)"
        if d["n_submit_no_response"]:
            out += f", {_n(d['n_submit_no_response'])} with no response"
        return out
    if d["n_submit_no_response"]:
        return "a submit got no response"
    return ""


def _ph_price(d: dict[str, float]) -> str:
    if d["n_price"] == 0:
        return "no price shown" if d["kind_checkout"] else ""
    what = "a fee" if d["price_fee"] else ("shipping" if d["price_shipping"] else "a total")
    out = f"left {_fmt_s(d['s_last_price_to_exit'])} after {what} was shown"
    if _ok(d["total_subtotal_ratio"]) and d["total_subtotal_ratio"] > 1.05:
        out += f" (total {d['total_subtotal_ratio']:.2f}x the subtotal)"
    return out


def _ph_coupon(d: dict[str, float]) -> str:
    n = _n(d["n_apply_coupon"])
    if n == 0 and d["coupon_inputs"] == 0:
        return ""
    out = _plural(max(n, 1), "coupon attempt")
    if d["n_coupon_errors"]:
        out += f", {_n(d['n_coupon_errors'])} rejected"
    return out


def _ph_hidden(d: dict[str, float]) -> str:
    if d["n_hidden"] == 0:
        return "the page never went to the background"
    if d["hidden_at_exit"]:
        return f"the page was hidden at the end ({_fmt_s(d['hidden_total_s'])} hidden in all)"
    out = f"the page was hidden for {_fmt_s(d['hidden_longest_s'])}"
    if _ok(d["s_last_return_to_exit"]):
        out += f", then back for only {_fmt_s(d['s_last_return_to_exit'])}"
    return out


def _ph_idle(d: dict[str, float]) -> str:
    if d["idle_longest_s"] >= 60:
        return f"idle for {_fmt_s(d['idle_longest_s'])}"
    if _ok(d["s_last_event_to_exit"]) and d["s_last_event_to_exit"] >= 30:
        return f"nothing happened for {_fmt_s(d['s_last_event_to_exit'])} before leaving"
    return ""


def _ph_input(d: dict[str, float]) -> str:
    share = d["required_filled_share"]
    tail = f", {share:.0%} of the required fields filled" if _ok(share) else ""
    if d["n_fields_touched"] <= 2:
        return f"little input ({_plural(_n(d['n_fields_touched']), 'field')} touched{tail})"
    return f"{_plural(_n(d['n_fields_touched']), 'field')} touched{tail}"


def _ph_pace(d: dict[str, float]) -> str:
    parts = []
    if d["n_refocus"] >= 2:
        parts.append(f"went back to fields {_plural(_n(d['n_refocus']), 'time')}")
    if _ok(d["dwell_trend"]) and d["dwell_trend"] > 1.3:
        parts.append("slowed down field after field")
    return "; ".join(parts)


def _ph_progress(d: dict[str, float]) -> str:
    steps = _n(d["n_steps"])
    if steps <= 1:
        return ""
    return f"left at step {_n(d['last_step_frac'] * steps)} of {steps}"


def _ph_last(d: dict[str, float]) -> str:
    for name in FEATURE_NAMES:
        if name.startswith("last_ev_") and d[name]:
            what = name[8:].replace("_", " ")
            return f"the last thing before leaving was {'an' if what[0] in 'aeiou' else 'a'} {what} event"
    return ""


REASON_GROUPS: tuple[tuple[str, tuple[str, ...], Callable[[dict[str, float]], str]], ...] = (
    ("errors", ("n_error", "n_error_form", "n_error_fields", "max_errors_one_field", "n_error_unfielded",
                "errors_showing_at_exit", "s_last_error_to_exit", "err_required", "err_invalid_format",
                "err_too_short", "err_too_long", "err_mismatch", "err_taken", "err_other"), _ph_errors),
    ("corrections", ("n_len_decrease", "n_len_to_zero", "n_len_to_zero_sensitive", "n_len_to_zero_card"),
     _ph_corrections),
    ("sensitive", ("sens_fields", "sens_focused", "sens_dwell_max_s", "sens_dwell_low_input_max_s",
                   "sens_focus_no_input"), _ph_sensitive),
    ("trust_clicks", ("click_trust",), _ph_clicks("trust", "privacy / security / returns links")),
    ("account_clicks", ("click_account",), _ph_clicks("account", "login / guest / sign-in controls")),
    ("friction_clicks", ("click_friction",), _ph_clicks("friction", "help or back")),
    ("price_clicks", ("click_price",), _ph_clicks("price", "shipping or cost details")),
    ("password", ("pw_fields", "pw_focused", "pw_typed_max_len", "pw_cleared", "pw_dwell_no_input_max_s",
                  "pw_step_viewed", "pw_step_last_view", "s_last_pw_focus_to_exit"), _ph_password),
    ("failures", ("n_response_fail", "max_response_s", "n_slow_response", "n_js_error", "n_declined", "err_declined",
                  "s_last_failure_to_exit", "n_response"), _ph_failures),
    ("submits", ("n_submit", "max_submits_one_step", "n_rage_submits", "n_submit_no_response",
                 "s_last_submit_to_exit"), _ph_submits),
    ("price", ("n_price", "price_subtotal", "price_shipping", "price_tax", "price_fee", "price_discount",
               "price_total", "s_last_price_to_exit", "price_in_last_30s", "price_first_frac", "total_subtotal_ratio",
               "extra_cost_ratio", "inputs_after_last_price", "events_after_last_price"), _ph_price),
    ("coupon", ("coupon_fields", "coupon_inputs", "n_apply_coupon", "n_coupon_errors"), _ph_coupon),
    ("hidden", ("n_hidden", "hidden_total_s", "hidden_longest_s", "hidden_share", "hidden_at_exit", "n_returns",
                "s_last_return_to_exit"), _ph_hidden),
    ("idle", ("idle_longest_s", "s_last_event_to_exit", "log_duration_s"), _ph_idle),
    ("input", ("n_events", "n_input", "n_paste", "n_autofill", "n_change", "chars_typed", "n_fields_touched",
               "required_filled_share", "fields_filled_share"), _ph_input),
    ("pace", ("n_refocus", "dwell_max_s", "dwell_mean_s", "dwell_no_input_max_s", "dwell_trend"), _ph_pace),
    ("progress", ("n_steps", "max_step_frac", "last_step_frac", "n_back_views"), _ph_progress),
    ("last_event", tuple(n for n in FEATURE_NAMES if n.startswith("last_ev_")), _ph_last),
)
_GROUP_IDX = [np.array([FEATURE_INDEX[f] for f in members]) for _, members, _ in REASON_GROUPS]


# --- the model -----------------------------------------------------------------------------------------------


class _FlatForest:
    """All trees of a fitted multiclass ``HistGradientBoostingClassifier`` as flat arrays, walked with numpy.

    scikit-learn predicts tree by tree in a Python loop (about 8 microseconds a tree, so several milliseconds for one
    trace with hundreds of trees, and its OpenMP threads stall on a busy machine); walking every tree at once takes a
    fraction of that for small batches. The rule is scikit-learn's (``_predict_one_from_raw_data``): NaN goes where
    ``missing_go_to_left`` says, otherwise ``x <= num_threshold`` goes left. Only numeric splits are supported.
    """

    def __init__(self, est: Any) -> None:
        k = int(est.n_trees_per_iteration_)
        per_class: list[list[np.ndarray]] = [[] for _ in range(k)]
        for iteration in est._predictors:
            for c, pred in enumerate(iteration):
                per_class[c].append(pred.nodes)
        roots, feats, thr, miss, left, right, leaf, value, bounds = [], [], [], [], [], [], [], [], [0]
        offset = 0
        for trees in per_class:
            for nodes in trees:
                if np.any(nodes["is_categorical"]):
                    raise ValueError("categorical splits are not supported")
                roots.append(offset)
                feats.append(nodes["feature_idx"].astype(np.int64))
                thr.append(nodes["num_threshold"].astype(np.float64))
                miss.append(nodes["missing_go_to_left"].astype(bool))
                left.append(nodes["left"].astype(np.int64) + offset)
                right.append(nodes["right"].astype(np.int64) + offset)
                leaf.append(nodes["is_leaf"].astype(bool))
                value.append(nodes["value"].astype(np.float64))
                offset += len(nodes)
            bounds.append(len(roots))
        self.roots = np.array(roots, dtype=np.int64)
        self.feat, self.thr, self.miss = np.concatenate(feats), np.concatenate(thr), np.concatenate(miss)
        self.left, self.right = np.concatenate(left), np.concatenate(right)
        self.leaf, self.value = np.concatenate(leaf), np.concatenate(value)
        self.bounds = np.array(bounds[:-1], dtype=np.int64)
        self.baseline = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()

    def raw(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        idx = np.broadcast_to(self.roots, (n, self.roots.shape[0])).copy()
        rows = np.arange(n)[:, None]
        while True:
            at_leaf = self.leaf[idx]
            if at_leaf.all():
                break
            x = X[rows, self.feat[idx]]
            go_left = np.where(np.isnan(x), self.miss[idx], x <= self.thr[idx])
            idx = np.where(at_leaf, idx, np.where(go_left, self.left[idx], self.right[idx]))
        return np.add.reduceat(self.value[idx], self.bounds, axis=1) + self.baseline

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        return softmax(self.raw(X), axis=1)



class FeatureModel:
    """Gradient boosting on :mod:`formwhy.features`; implements :class:`formwhy.backends.base.Backend`."""

    name = NAME

    def __init__(self, estimator: Any, manifest: dict[str, Any], model_dir: Path | None = None) -> None:
        self.estimator = estimator
        try:
            self._flat: _FlatForest | None = _FlatForest(estimator) if estimator.n_trees_per_iteration_ > 1 else None
        except (AttributeError, ValueError):
            self._flat = None
        self.manifest = manifest
        self.model_dir = model_dir
        base = manifest.get("baseline")
        self.baseline = np.array([np.nan if v is None else float(v) for v in base], dtype=np.float64) if base \
            else np.full(N_FEATURES, np.nan)

    @property
    def model_id(self) -> str:
        where = str(self.model_dir) if self.model_dir is not None else "unsaved"
        sha = self.manifest.get("model_sha256", "")
        return f"features:{where}" + (f"@{sha[:12]}" if sha else "")

    # -- inference ----------------------------------------------------------------------------------------------

    def predict_proba_features(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 6) in digit order for a feature matrix."""
        X = np.asarray(X, dtype=np.float64)
        if self._flat is not None and X.shape[0] <= FLAT_MAX_ROWS:
            p = self._flat.predict_proba(X)
        else:
            with _single_thread():
                p = np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
        classes = [int(c) for c in self.estimator.classes_]
        if classes != list(range(NUM_CLASSES)):  # a class absent from training: put zeros in its column
            full = np.zeros((p.shape[0], NUM_CLASSES))
            full[:, classes] = p
            p = full
        p = np.clip(p, 0.0, 1.0)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, traces: Sequence[Trace], *, reasoning: bool = False) -> list[Prediction]:
        if not traces:
            return []
        n = len(traces)
        X = np.empty((n, N_FEATURES), dtype=np.float64)
        t_feat = np.empty(n)
        for i, tr in enumerate(traces):
            t0 = time.perf_counter()
            X[i] = extract_row(tr)
            t_feat[i] = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            probs = self.predict_proba_features(X)
        except Exception as exc:  # noqa: BLE001 - any estimator failure is a backend failure
            raise BackendError(NAME, f"prediction failed: {exc}") from exc
        t_model = (time.perf_counter() - t0) / n
        out = []
        for i in range(n):
            t_reason = 0.0
            text = None
            if reasoning:
                t1 = time.perf_counter()
                text = self.explain(X[i], int(probs[i].argmax()), probs[i])
                t_reason = time.perf_counter() - t1
            out.append(Prediction(
                probs=probs[i],
                logits=np.log(np.clip(probs[i], _EPS, 1.0)),
                reasoning=text,
                latency_ms=1000.0 * (t_feat[i] + t_model + t_reason),
                extra={"features_ms": 1000.0 * t_feat[i], "model_ms": 1000.0 * t_model},
            ))
        return out

    def group_effects(self, x: np.ndarray, cls: int, p: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Per reasoning group: how much the log-odds of ``cls`` drop when the group is set back to its typical
        training value (largest first). Log-odds, not log-probability: near p = 1 the latter hardly moves."""
        rows = np.repeat(x[None, :], len(REASON_GROUPS), axis=0)
        for g, idx in enumerate(_GROUP_IDX):
            rows[g, idx] = self.baseline[idx]
        if p is None:
            p = self.predict_proba_features(x[None, :])[0]
        q = self.predict_proba_features(rows)[:, cls]
        drops = _log_odds(np.array([p[cls]])) - _log_odds(q)
        order = np.argsort(-drops, kind="stable")
        return [(REASON_GROUPS[g][0], float(drops[g])) for g in order]

    def explain(self, x: np.ndarray, cls: int, p: np.ndarray | None = None, max_parts: int = 3) -> str:
        """A short reasoning for class ``cls`` from the groups that pushed it most."""
        d = dict(zip(FEATURE_NAMES, (float(v) for v in x), strict=True))
        phrases = {name: ph for name, _, ph in REASON_GROUPS}
        parts: list[str] = []
        for group, drop in self.group_effects(x, cls, p):
            if drop < 0.1 or len(parts) >= max_parts:
                break
            text = phrases[group](d)
            if text and text not in parts:
                parts.append(text)
        if not parts:
            return f"No single signal stands out; the overall pattern is closest to {NAMES[cls]}."
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."

    # -- persistence --------------------------------------------------------------------------------------------

    def save(self, model_dir: Path | str) -> Path:
        """Write ``model.skops`` and ``formwhy.json`` into ``model_dir`` (created; files replaced)."""
        import skops.io as sio

        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        sio.dump(self.estimator, model_dir / MODEL_FILE)
        self.manifest["model_file"] = MODEL_FILE
        self.manifest["model_sha256"] = sha256_file(model_dir / MODEL_FILE)
        (model_dir / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")
        self.model_dir = model_dir
        return model_dir

    @classmethod
    def load(cls, model_dir: Path | str) -> FeatureModel:
        """Load a saved model; refuses (``BackendError``) a missing model, a feature set that changed since
        training, a modified model file, or a ``model.skops`` that needs a type outside :data:`TRUSTED_TYPES`."""
        import skops.io as sio

        model_dir = Path(model_dir)
        manifest_path = model_dir / MANIFEST_FILE
        if not manifest_path.exists():
            if model_dir.is_dir() and (model_dir / MODEL_FILE).exists():
                raise BackendError(NAME, f"{manifest_path}: missing manifest; retrain with `formwhy train features`")
            raise BackendError(NAME, f"no model at {model_dir}: run `formwhy train features` first "
                                     f"(or pass --model PATH)")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BackendError(NAME, f"{manifest_path}: unreadable manifest: {exc}") from None
        if manifest.get("backend") != NAME:
            raise BackendError(NAME, f"{manifest_path}: not a features model (backend {manifest.get('backend')!r})")
        if list(manifest.get("feature_names", [])) != list(FEATURE_NAMES):
            raise BackendError(NAME, f"{model_dir}: the model was trained on a different feature set than this "
                                     f"formwhy {__version__} computes; retrain with `formwhy train features`")
        if list(manifest.get("classes", [])) != list(NAMES):
            raise BackendError(NAME, f"{manifest_path}: classes {manifest.get('classes')} do not match {list(NAMES)}")
        path = model_dir / manifest.get("model_file", MODEL_FILE)
        if not path.exists():
            raise BackendError(NAME, f"{path}: no such file")
        sha = manifest.get("model_sha256")
        if sha and sha256_file(path) != sha:
            raise BackendError(NAME, f"{path}: sha256 does not match the manifest (the file was changed); refusing "
                                     f"to load it")
        try:
            untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
        except Exception as exc:  # noqa: BLE001 - a corrupt file
            raise BackendError(NAME, f"{path}: not a readable skops file: {exc}") from None
        if untrusted:
            raise BackendError(NAME, f"{path}: refusing to load untrusted types {', '.join(untrusted)} "
                                     f"(only {', '.join(TRUSTED_TYPES)} beyond skops' defaults are trusted)")
        try:
            estimator = sio.load(path, trusted=list(TRUSTED_TYPES))
        except Exception as exc:  # noqa: BLE001
            raise BackendError(NAME, f"{path}: could not load: {exc}") from None
        if getattr(estimator, "n_features_in_", N_FEATURES) != N_FEATURES:
            raise BackendError(NAME, f"{path}: estimator expects {estimator.n_features_in_} features, not "
                                     f"{N_FEATURES}; retrain with `formwhy train features`")
        return cls(estimator, manifest, model_dir)


# --- training ------------------------------------------------------------------------------------------------


def _baseline(X: np.ndarray) -> list[float | None]:
    """Per feature: the training median, or None ("absent") when most training traces lack it."""
    out: list[float | None] = []
    for j in range(X.shape[1]):
        col = X[:, j]
        nan = np.isnan(col)
        out.append(None if nan.mean() > 0.5 else float(np.median(col[~nan])))
    return out


def _labels(examples: Sequence[Example]) -> np.ndarray:
    return np.array([ex.y for ex in examples], dtype=np.int64)


def quick_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from formwhy.calibration import accuracy, ece, macro_f1, nll

    return {"n": int(len(y)), "accuracy": accuracy(probs, y), "macro_f1": macro_f1(probs, y), "nll": nll(probs, y),
            "ece": ece(probs, y, n_bins=15)}


def train(train_examples: Sequence[Example], validation_examples: Sequence[Example] | None = None, *,
          params: dict[str, Any] | None = None, train_source: dict[str, Any] | None = None,
          validation_source: dict[str, Any] | None = None) -> FeatureModel:
    """Fit a :class:`FeatureModel` (not saved). ``*_source``: ``{"path", "sha256"}`` recorded in the manifest."""
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.utils.class_weight import compute_sample_weight

    if len(train_examples) < NUM_CLASSES:
        raise ValueError(f"only {len(train_examples)} training examples: too few to train")
    X = extract([ex.trace for ex in train_examples])
    y = _labels(train_examples)
    if len(np.unique(y)) < 2:
        raise ValueError("the training data holds a single class: nothing to learn")
    hp = {**DEFAULT_PARAMS, **(params or {})}
    est = HistGradientBoostingClassifier(**hp)
    t0 = time.perf_counter()
    est.fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    seconds = time.perf_counter() - t0
    counts = {name: int((y == i).sum()) for i, name in enumerate(NAMES)}
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "backend": NAME,
        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        "params": hp,
        "class_weighting": "balanced sample weights",
        "feature_names": list(FEATURE_NAMES),
        "classes": list(NAMES),
        "train": {**(train_source or {}), "n": int(len(y)), "counts": counts},
        "validation": None,
        "metrics": {},
        "baseline": _baseline(X),
        "fit_seconds": round(seconds, 3),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "formwhy_version": __version__,
        "sklearn_version": sklearn.__version__,
    }
    model = FeatureModel(est, manifest)
    if validation_examples:
        Xv = extract([ex.trace for ex in validation_examples])
        yv = _labels(validation_examples)
        manifest["validation"] = {**(validation_source or {}), "n": int(len(yv))}
        manifest["metrics"]["validation"] = quick_metrics(model.predict_proba_features(Xv), yv)
    return model


def train_and_save(train_path: Path, validation_path: Path | None, out: Path, *,
                   params: dict[str, Any] | None = None,
                   before_commit: Callable[[FeatureModel, Path], None] | None = None) -> FeatureModel:
    """Read the JSONL files, train, and write the model directory atomically (``before_commit(model, tmp_dir)``
    may add files, e.g. ``calibration.json``, before the directory is put in place)."""
    from formwhy.dataset import read_examples

    train_ex = read_examples(train_path)
    val_ex = read_examples(validation_path) if validation_path is not None else None
    model = train(train_ex, val_ex, params=params,
                  train_source={"path": str(train_path), "sha256": sha256_file(train_path)},
                  validation_source=None if validation_path is None else {
                      "path": str(validation_path), "sha256": sha256_file(validation_path)})
    with atomic_dir(out, markers=(MANIFEST_FILE,)) as tmp:
        model.save(tmp)
        if before_commit is not None:
            before_commit(model, tmp)
    model.model_dir = out
    return model


def load(model_path: Path | str | None) -> FeatureModel:
    """The registry's loader: ``model_path`` defaults to ``models/features``."""
    return FeatureModel.load(Path(model_path) if model_path is not None else DEFAULT_MODEL_DIR)
