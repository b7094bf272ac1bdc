#!/usr/bin/env bash
# Experiment 4, step 6 (only if adopted by step 5): set E once, and the five hand-written test sets pooled; the
# adapter must be the adopted one at $M, calibrated by after.sh. Aggregates only.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
export HF_HUB_OFFLINE=1
F=.venv/bin/formwhy
M=${M:-runs/s17-mix/adapter}
DTYPE=${DTYPE:-bfloat16}  # amendment 3: float32 on a CPU without native bfloat16
E="--backend llm --model $M --dtype $DTYPE"
# the synthetic test set and the feature model's rows below need these (make run makes both too)
[ -e data/synthetic/test.jsonl ] || $F data build
[ -e models/features ] || $F train features
$F evaluate $E --data data/real/test-e.jsonl --out runs/eval/s17-e --verbalized
$F evaluate $E --data data/real/test.jsonl --data data/real/test-b.jsonl --data data/real/test-c.jsonl \
    --data data/real/test-d.jsonl --data data/real/test-e.jsonl --out runs/eval/s17-pooled5
for s in d:test-d c:test-c b:test-b real:test; do
  $F evaluate $E --data data/real/${s#*:}.jsonl --out runs/eval/s17-${s%%:*}
done
$F evaluate $E --data data/synthetic/test.jsonl --out runs/eval/s17-synthetic
$F evaluate --backend features --data data/real/test-e.jsonl --out runs/eval/features-reale
$F evaluate --backend features --data data/real/test.jsonl --data data/real/test-b.jsonl \
    --data data/real/test-c.jsonl --data data/real/test-d.jsonl --data data/real/test-e.jsonl \
    --out runs/eval/features-pooled5
echo TESTREAD_DONE
