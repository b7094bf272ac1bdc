#!/usr/bin/env bash
# Experiment 5, steps 4-5 (bench/experiments/README.md): calibration by the stop-14 rule, then adoption on the 156
# hand-written validation traces against the shipped adapter's figures. No test set is read here.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
export HF_HUB_OFFLINE=1
F=.venv/bin/formwhy
M=${M:-runs/s23-mix/adapter}
.venv/bin/python bench/writer_cv.py --model $M --dtype bfloat16 --out bench/results/writer_cv-s23.json
METHOD=$(python3 -c "import json;print(json.load(open('bench/results/writer_cv-s23.json'))['decision'])")
echo "calibration method: $METHOD"
case "$METHOD" in
  synthetic) DATA="--data data/synthetic/validation.jsonl" ;;
  handwritten) DATA="--data data/handwritten/validation.jsonl --data data/handwritten/validation-c.jsonl" ;;
  synthetic+handwritten) DATA="--data data/synthetic/validation.jsonl --data data/handwritten/validation.jsonl --data data/handwritten/validation-c.jsonl" ;;
  *) echo "unknown method $METHOD"; exit 1 ;;
esac
$F calibrate --backend llm --model $M --dtype bfloat16 $DATA
$F evaluate --backend llm --model $M --dtype bfloat16 --data data/handwritten/validation.jsonl \
    --data data/handwritten/validation-c.jsonl --out runs/eval/s23-mix-hvall
python3 - <<'PY'
import json
new = json.load(open("runs/eval/s23-mix-hvall/metrics.json"))["methods"]["calibrated"]
old = json.load(open("bench/results/exp4-validation-156.json"))["methods"]["calibrated"]
adopt = (new["macro_f1"] >= old["macro_f1"] and new["accuracy"] >= old["accuracy"]
         and new["nll"] <= old["nll"] + 0.02)  # step 5's bar
for name, r in (("shipped", old), ("new", new)):
    print(f"{name:8s} accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}  scaled ECE {r['ece']:.3f}  "
          f"NLL {r['nll']:.3f}")
print("ADOPT" if adopt else "not adopted", "(bar: macro-F1 and accuracy at least the shipped adapter's, "
      "NLL at most its + 0.02)")
PY
echo AFTER_DONE
