# Experiment 4: the new adapter on the four older test sets pooled (609 traces), read from step 6's pooled-five
# predictions without set E's ids, to compare with the previous adapter's pooled-609 row. Run from the repository
# root after testread.sh.
import sys
from pathlib import Path

import numpy as np

from formwhy.calibration import accuracy, ece, macro_f1
from formwhy.dataset import read_examples

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/, for compare_evals
from compare_evals import read_predictions  # noqa: E402

set_e = {e.id for e in read_examples("data/real/test-e.jsonl")}
for method in ("raw", "calibrated"):
    rows = {k: v for k, v in read_predictions(Path("runs/eval/s17-pooled5"), method).items() if k not in set_e}
    y = np.array([label for label, _ in rows.values()])
    p = np.array([probs for _, probs in rows.values()])
    print(f"{method}: n {len(rows)}, accuracy {accuracy(p, y):.3f}, macro-F1 {macro_f1(p, y):.3f}, ECE {ece(p, y):.3f}")
