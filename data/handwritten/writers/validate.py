"""Checks one writer's file: python validate.py FILE PREFIX"""
import json, sys
import jsonschema
path, prefix = sys.argv[1], sys.argv[2]
V = jsonschema.Draft202012Validator(json.load(open('/work/shared/spec/trace-v1.schema.json')))
LABELS = ["price_shock", "account_wall", "trust_concern", "form_friction", "technical_error", "distraction"]
KEYS = ["id", "label", "form_kind", "hard", "confidence", "story", "reasoning", "trace"]
rows = [json.loads(l) for l in open(path) if l.strip()]
problems = []
prev = None
seen_forms = set()
for i, r in enumerate(rows, 1):
    rid = r.get("id")
    if list(r) != KEYS: problems.append(f"{rid}: keys {list(r)} != {KEYS}")
    if rid != f"{prefix}-{i:03d}": problems.append(f"line {i}: id {rid} != {prefix}-{i:03d}")
    if r.get("label") not in LABELS: problems.append(f"{rid}: bad label {r.get('label')}")
    if r.get("label") == prev: problems.append(f"{rid}: same label as previous line")
    prev = r.get("label")
    t = r.get("trace", {})
    for e in V.iter_errors(t): problems.append(f"{rid}: schema: {e.message[:150]} at {list(e.path)}")
    form = t.get("form", {})
    if r.get("form_kind") != form.get("kind"): problems.append(f"{rid}: form_kind != trace.form.kind")
    if form.get("id") in seen_forms: problems.append(f"{rid}: form id reused")
    seen_forms.add(form.get("id"))
    names = {f.get("name") for f in form.get("fields", [])}
    last_t, vis = -1, True
    for k, e in enumerate(t.get("events", [])):
        if e.get("t", 0) < last_t: problems.append(f"{rid}: event {k}: t decreases")
        last_t = e.get("t", 0)
        if "field" in e and e["field"] not in names: problems.append(f"{rid}: event {k}: field {e['field']} not declared")
        if e.get("type") == "hidden":
            if not vis: problems.append(f"{rid}: event {k}: hidden twice")
            vis = False
        if e.get("type") == "visible":
            if vis: problems.append(f"{rid}: event {k}: visible without hidden")
            vis = True
    if not isinstance(r.get("hard"), bool): problems.append(f"{rid}: hard not bool")
    if not (isinstance(r.get("confidence"), (int, float)) and 0 <= r["confidence"] <= 1): problems.append(f"{rid}: confidence")
from collections import Counter
print(len(rows), "rows;", dict(Counter(r.get("label") for r in rows)), "hard:", sum(bool(r.get("hard")) for r in rows))
print("\n".join(problems) if problems else "no problems")
