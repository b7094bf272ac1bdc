# Experiment 4: the new adapter on the four older test sets pooled (609 traces), read from step 6's pooled-five
# predictions without set E's ids, to compare with the previous adapter's pooled-609 row. Run from the repository
# root after testread.sh.
import json

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from formwhy.calibration import ece
from formwhy.taxonomy import NAMES

with open("data/real/test-e.jsonl") as f:
    set_e = {json.loads(line)["id"] for line in f}
with open("runs/eval/s17-pooled5/predictions.jsonl") as f:
    rows = [r for r in map(json.loads, f) if r["id"] not in set_e]
y = np.array([NAMES.index(r["label"]) for r in rows])
for method in ("raw", "calibrated"):
    p = np.array([r[method] for r in rows])
    print(f"{method}: n {len(rows)}, accuracy {accuracy_score(y, p.argmax(1)):.3f}, "
          f"macro-F1 {f1_score(y, p.argmax(1), average='macro'):.3f}, ECE {ece(p, y):.3f}")
