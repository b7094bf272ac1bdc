"""The checker each hand-written-set writer ran after every batch: ``python validate.py FILE PREFIX``.

Prints the row count, the per-class counts and the number of hard traces, then every problem found (or
``no problems``): schema errors, ids not ``PREFIX-001`` ... in order, keys out of order, a bad label, two
neighbouring lines with the same label, ``form_kind`` unlike ``trace.form.kind``, a reused form id, an event
on an undeclared field, ``t`` going back, ``hidden`` / ``visible`` not alternating, a bad ``hard`` or
``confidence``.
"""

import json
import sys
from collections import Counter

import jsonschema

SCHEMA = "/work/shared/spec/trace-v1.schema.json"
LABELS = ["price_shock", "account_wall", "trust_concern", "form_friction", "technical_error", "distraction"]
KEYS = ["id", "label", "form_kind", "hard", "confidence", "story", "reasoning", "trace"]


def row_problems(i: int, r: dict, prefix: str, prev: str | None, seen_forms: set) -> list[str]:
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
    out += [f"{rid}: schema: {e.message[:150]} at {list(e.path)}" for e in VALIDATOR.iter_errors(t)]
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


if __name__ == "__main__":
    path, prefix = sys.argv[1], sys.argv[2]
    VALIDATOR = jsonschema.Draft202012Validator(json.load(open(SCHEMA)))
    rows = [json.loads(line) for line in open(path) if line.strip()]
    problems: list[str] = []
    prev, seen = None, set()
    for i, r in enumerate(rows, 1):
        problems += row_problems(i, r, prefix, prev, seen)
        prev = r.get("label")
    labels = dict(Counter(r.get("label") for r in rows))
    print(len(rows), "rows;", labels, "hard:", sum(bool(r.get("hard")) for r in rows))
    print("\n".join(problems) if problems else "no problems")
