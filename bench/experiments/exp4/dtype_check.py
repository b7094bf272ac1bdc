# Experiment 4, amendment 3: compare the float32 and bfloat16 scorings of the 156 validation traces. Run from the
# repository root after the two `formwhy evaluate` runs named in the amendment; writes
# bench/results/exp4-validation-156-f32.json.
import json

BF16, F32 = "runs/eval/s17-mix-hvall", "runs/eval/s17-mix-hvall-f32"
KEYS = ["accuracy", "macro_f1", "ece", "nll", "brier", "aps_coverage", "aps_mean_set_size"]


def load(folder: str) -> dict[str, dict]:
    with open(f"{folder}/predictions.jsonl") as f:
        rows = [json.loads(line) for line in f]
    return {r["id"]: r for r in rows}


def calibrated_metrics(folder: str) -> dict:
    with open(f"{folder}/metrics.json") as f:
        return json.load(f)["methods"]["calibrated"]


a, b = load(BF16), load(F32)
assert a.keys() == b.keys()
changed = [k for k in a if a[k]["predicted"] != b[k]["predicted"]]
maxdiff = max(max(abs(x - y) for x, y in zip(a[k]["calibrated"], b[k]["calibrated"], strict=True)) for k in a)
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
