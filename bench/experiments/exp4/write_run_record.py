"""Write run.json for the experiment-4 run, which started (07:03 UTC) before `--resume` existed: the record the
same command (`formwhy train llm --train runs/s17-mix/train.jsonl --out runs/s17-mix/adapter`) writes now."""
import json
from pathlib import Path

from formwhy.augment import augment_examples
from formwhy.dataset import read_examples
from formwhy.llm.train import RUN_RECORD, TrainConfig, run_record, to_records

cfg = TrainConfig(train=str(Path("runs/s17-mix/train.jsonl")), out=str(Path("runs/s17-mix/adapter")))
train_ex, renames = augment_examples(read_examples(cfg.train), localize_share=cfg.localize,
                                     tab_switch_share=cfg.tab_switch, seed=cfg.seed)
val_ex = read_examples(cfg.validation)
rec = run_record(cfg, "none", "cpu", to_records(train_ex, cfg.max_lines, renames), to_records(val_ex, cfg.max_lines))
work = Path("runs/s17-mix/adapter.checkpoints")
(work / RUN_RECORD).write_text(json.dumps(rec, indent=2) + "\n")
print(json.dumps(rec, indent=1))
