"""The checker each hand-written-set writer ran after every batch: ``python validate.py FILE PREFIX``.

The writers ran it against ``/work/shared/spec/trace-v1.schema.json``; this copy reads the repository's identical
copy of the schema (``src/formwhy/spec/``), so it runs from a clone.

Prints the row count, the per-class counts and the number of hard traces, then every problem found (or
``no problems``): schema errors, ids not ``PREFIX-001`` ... in order, keys out of order, a bad label, two
neighbouring lines with the same label, ``form_kind`` unlike ``trace.form.kind``, a reused form id, an event
on an undeclared field, ``t`` going back, ``hidden`` / ``visible`` not alternating, a bad ``hard`` or
``confidence``.
"""

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).resolve().parents[3] / "src" / "formwhy" / "spec" / "trace-v1.schema.json"
LABELS = ["price_shock", "account_wall", "trust_concern", "form_friction", "technical_error", "distraction"]
KEYS = ["id", "label", "form_kind", "hard", "confidence", "story", "reasoning", "trace"]


def row_problems(i: int, r: dict[str, Any], prefix: str, prev: str | None, seen_forms: set[str],
                 validator: jsonschema.protocols.Validator) -> list[str]:
    rid = r.get("id")
    out = []
    if list(r) != KEYS:
        out.append(f"{rid}: keys {list(r)} != {KEYS}")
    if rid != f"{prefix}-{i:03d}":
        out.append(f"line {i}: id {rid} != {prefix}-{i:03d}")
    if r.get("label") not in LABELS:
        out.append(f"{rid}: bad label {r.get('label')}")
    if r.get("label") == prev:
        out.append(f"{rid}: same label as previous line")
    t = r.get("trace", {})
    out += [f"{rid}: schema: {e.message[:150]} at {list(e.path)}" for e in validator.iter_errors(t)]
    form = t.get("form", {})
    if r.get("form_kind") != form.get("kind"):
        out.append(f"{rid}: form_kind != trace.form.kind")
    if form.get("id") in seen_forms:
        out.append(f"{rid}: form id reused")
    seen_forms.add(form.get("id"))
    names = {f.get("name") for f in form.get("fields", [])}
    last_t, visible = -1, True
    for k, e in enumerate(t.get("events", [])):
        if e.get("t", 0) < last_t:
            out.append(f"{rid}: event {k}: t decreases")
        last_t = e.get("t", 0)
        if "field" in e and e["field"] not in names:
            out.append(f"{rid}: event {k}: field {e['field']} not declared")
        if e.get("type") in ("hidden", "visible"):
            if visible != (e["type"] == "hidden"):
                out.append(f"{rid}: event {k}: {e['type']} out of turn")
            visible = e["type"] == "visible"
    if not isinstance(r.get("hard"), bool):
        out.append(f"{rid}: hard not bool")
    conf = r.get("confidence")
    if not (isinstance(conf, (int, float)) and 0 <= conf <= 1):
        out.append(f"{rid}: confidence")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: validate.py FILE PREFIX   (e.g. validate.py /tmp/setc/c1.jsonl c1)", file=sys.stderr)
        return 2
    path, prefix = argv
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    problems: list[str] = []
    prev: str | None = None
    seen: set[str] = set()
    for i, r in enumerate(rows, 1):
        problems += row_problems(i, r, prefix, prev, seen, validator)
        prev = r.get("label")
    labels = dict(Counter(r.get("label") for r in rows))
    print(len(rows), "rows;", labels, "hard:", sum(bool(r.get("hard")) for r in rows))
    print("\n".join(problems) if problems else "no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
