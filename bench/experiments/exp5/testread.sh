#!/usr/bin/env bash
# Experiment 5, step 6: set F once, and the six hand-written test sets pooled, by the adapter step 5 leaves shipped
# ($M), with the feature model beside it. Aggregates only.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
export HF_HUB_OFFLINE=1
F=.venv/bin/formwhy
M=${M:?set M to the adapter step 5 leaves shipped}
DTYPE=${DTYPE:-bfloat16}  # float32 only on a CPU without native bfloat16, under amendment 3's check
E="--backend llm --model $M --dtype $DTYPE"
[ -e data/synthetic/test.jsonl ] || $F data build
[ -e models/features ] || $F train features
SIX="--data data/real/test.jsonl --data data/real/test-b.jsonl --data data/real/test-c.jsonl \
     --data data/real/test-d.jsonl --data data/real/test-e.jsonl --data data/real/test-f.jsonl"
$F evaluate $E --data data/real/test-f.jsonl --out runs/eval/s23-f --verbalized
$F evaluate $E $SIX --out runs/eval/s23-pooled6
$F evaluate --backend features --data data/real/test-f.jsonl --out runs/eval/features-realf
$F evaluate --backend features $SIX --out runs/eval/features-pooled6
echo TESTREAD_DONE
