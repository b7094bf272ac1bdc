#!/usr/bin/env bash
# The README's evaluation table for the shipped adapter (after experiment 5's adoption): each hand-written test set
# alone and the synthetic test set, with the verbalized answers, plus the feature model's rows for the same sets.
# Set F and the pooled six come from testread.sh (runs/eval/s23-f, s23-pooled6, features-realf, features-pooled6).
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
export HF_HUB_OFFLINE=1
F=.venv/bin/formwhy
DTYPE=${DTYPE:-bfloat16}  # float32 on a CPU without native bfloat16
[ -e data/synthetic/test.jsonl ] || $F data build
[ -e models/features ] || $F train features
for pair in real:data/real/test.jsonl b:data/real/test-b.jsonl c:data/real/test-c.jsonl d:data/real/test-d.jsonl \
            e:data/real/test-e.jsonl synthetic:data/synthetic/test.jsonl; do
  name=${pair%%:*} data=${pair#*:}
  $F evaluate --backend llm --dtype $DTYPE --data $data --out runs/eval/s23-$name-verbalized --verbalized
  [ $name = synthetic ] && fname=features-synthetic || fname=features-real${name#real}
  $F evaluate --backend features --data $data --out runs/eval/$fname
done
.venv/bin/python bench/eval_table.py runs/eval/s23-pooled6 runs/eval/s23-f runs/eval/s23-e-verbalized \
    runs/eval/s23-d-verbalized runs/eval/s23-c-verbalized runs/eval/s23-real-verbalized runs/eval/s23-b-verbalized \
    runs/eval/s23-synthetic-verbalized runs/eval/features-pooled6 runs/eval/features-realf runs/eval/features-reale \
    runs/eval/features-reald runs/eval/features-realc runs/eval/features-real runs/eval/features-realb \
    runs/eval/features-synthetic
