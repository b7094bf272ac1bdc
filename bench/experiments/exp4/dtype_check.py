# Experiment 4, amendment 3: compare the float32 and bfloat16 scorings of the 156 validation traces. Run from the
# repository root after the two `formwhy evaluate` runs named in the amendment; writes
# bench/results/exp4-validation-156-f32.json.
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/, for compare_evals
from compare_evals import read_predictions  # noqa: E402

BF16, F32 = Path("runs/eval/s17-mix-hvall"), Path("runs/eval/s17-mix-hvall-f32")
KEYS = ["accuracy", "macro_f1", "ece", "nll", "brier", "aps_coverage", "aps_mean_set_size"]


def calibrated_metrics(folder: Path) -> dict:
    with open(folder / "metrics.json") as f:
        return json.load(f)["methods"]["calibrated"]


a, b = read_predictions(BF16, "calibrated"), read_predictions(F32, "calibrated")  # id -> (label, probabilities)
assert a.keys() == b.keys()
changed = [k for k in a if np.argmax(a[k][1]) != np.argmax(b[k][1])]
maxdiff = max(max(abs(x - y) for x, y in zip(a[k][1], b[k][1], strict=True)) for k in a)
ma, mb = calibrated_metrics(BF16), calibrated_metrics(F32)
tol = 0.01 + 1 / len(a)
out = {
    "what": "Experiment 4, amendment 3's check: the 156 hand-written validation traces scored in float32 vs bfloat16 "
    "(bench/experiments/s17-mix-adapter, T = 0.963 fitted in bfloat16)",
    "n": len(a),
    "predicted_class_changed": len(changed),
    "changed_ids": changed,
    "max_abs_prob_diff_calibrated": maxdiff,
    "bfloat16": {k: ma[k] for k in KEYS},
    "float32": {k: mb[k] for k in KEYS},
    "tolerance": tol,
    "passes": len(changed) <= 2 and abs(ma["ece"] - mb["ece"]) <= tol and abs(ma["accuracy"] - mb["accuracy"]) <= tol,
}
with open("bench/results/exp4-validation-156-f32.json", "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps(out, indent=1))
