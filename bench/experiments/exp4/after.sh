#!/usr/bin/env bash
# Experiment 4, steps 4-5 (bench/experiments/README.md): calibration by the stop-14 rule, then adoption on the 156
# hand-written validation traces. No test set is read here.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
export HF_HUB_OFFLINE=1
F=.venv/bin/formwhy
M=runs/s17-mix/adapter
.venv/bin/python bench/writer_cv.py --model $M --dtype bfloat16 --out bench/results/writer_cv-s17.json
METHOD=$(python3 -c "import json;print(json.load(open('bench/results/writer_cv-s17.json'))['decision'])")
echo "calibration method: $METHOD"
case "$METHOD" in
  synthetic) DATA="--data data/synthetic/validation.jsonl" ;;
  handwritten) DATA="--data data/handwritten/validation.jsonl --data data/handwritten/validation-c.jsonl" ;;
  synthetic+handwritten) DATA="--data data/synthetic/validation.jsonl --data data/handwritten/validation.jsonl --data data/handwritten/validation-c.jsonl" ;;
  *) echo "unknown method $METHOD"; exit 1 ;;
esac
$F calibrate --backend llm --model $M --dtype bfloat16 $DATA
$F evaluate --backend llm --model $M --dtype bfloat16 --data data/handwritten/validation.jsonl \
    --data data/handwritten/validation-c.jsonl --out runs/eval/s17-mix-hvall
python3 - <<'PY'
import json
r = json.load(open("runs/eval/s17-mix-hvall/metrics.json"))["methods"]["calibrated"]
adopt = r["macro_f1"] >= 0.886 and r["accuracy"] >= 0.865  # step 5's bar (shipped adapter: 0.866 / 0.865)
print(f"156 hand-written validation traces: accuracy {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f}, "
      f"scaled ECE {r['ece']:.3f}, NLL {r['nll']:.3f} -> {'ADOPT' if adopt else 'not adopted'} "
      "(bar: macro-F1 >= 0.886 and accuracy >= 0.865)")
PY
echo AFTER_DONE
