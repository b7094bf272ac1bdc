"""The Cloudflare Worker's JavaScript prompt builder equals THE Python one (byte for byte), and its taxonomy too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from formwhy.llm.prompt import PREFIX, PROMPT_VERSION, SUFFIX, build_prompt
from formwhy.render import render_trace
from formwhy.simulate import Simulator
from formwhy.taxonomy import CLASSES
from formwhy.trace import EXAMPLES_DIR, parse_trace

CF = Path(__file__).resolve().parent.parent / "deploy" / "cloudflare"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

SCRIPT = """
import { readFileSync } from "node:fs";
const p = await import(process.argv[1] + "/src/prompt.js");
const a = await import(process.argv[1] + "/src/answer.js");
const cases = JSON.parse(readFileSync(0, "utf8"));
const prompts = cases.map(([trace, maxLines]) => maxLines === null ? p.buildPrompt(trace) :
  p.renderTrace(trace, maxLines));
process.stdout.write(JSON.stringify({ prompts, prefix: p.PREFIX, suffix: p.SUFFIX, version: p.PROMPT_VERSION,
  classes: a.CLASSES }));
"""


def run_js(cases: list[tuple[dict, int | None]]) -> dict:
    proc = subprocess.run([NODE, "--input-type=module", "-e", SCRIPT, CF.as_uri()], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def edge_trace() -> dict:
    """Times on exact rounding ties (250 ms, 2.5 s, 4.5 min), a cart of 0, a long input run with deletions; the
    v2 folds on their edges: an autofill run, a focus 949 ms and 950 ms before typing, gaps of 949 / 950 ms."""
    events = [{"t": 0, "type": "view", "step": 1},
              {"t": 100, "type": "autofill", "field": "email"}, {"t": 100, "type": "autofill", "field": "card"},
              {"t": 1050, "type": "autofill", "field": "email"},
              {"t": 1999, "type": "focus", "field": "email"}, {"t": 2948, "type": "paste", "field": "email", "len": 3},
              {"t": 3000, "type": "focus", "field": "card"}, {"t": 3950, "type": "input", "field": "card", "len": 1},
              {"t": 4000, "type": "focus", "field": "card"}]
    t = 4000
    for n in (1, 2, 3, 2, 1, 0, 4):
        t += 125
        events.append({"t": t, "type": "input", "field": "card", "len": n})
    for dt, ev in ((2500, {"type": "blur", "field": "card"}), (0, {"type": "focus", "field": "email"}),
                   (3500, {"type": "error", "code": "invalid_format", "field": "email"}),
                   (450, {"type": "error", "code": "declined"}), (50, {"type": "price", "kind": "total",
                                                                        "amount": 0.125}),
                   (270000, {"type": "submit", "step": 1}), (1, {"type": "response", "ok": True, "status": 200,
                                                                 "ms": 1250}),
                   (2, {"type": "response", "ok": False, "status": 503}), (5, {"type": "js_error"}),
                   (7, {"type": "js_error", "code": "TypeError"}), (9_000_000, {"type": "hidden"}),
                   (59_499, {"type": "exit"})):
        t += dt
        events.append({"t": t, **ev})
    return {"schema": "formwhy.trace/v1",
            "form": {"id": "f-1", "kind": "checkout", "steps": 1,
                     "fields": [{"name": "card", "type": "card_number", "sensitive": True, "required": True},
                                {"name": "email", "type": "email"}]},
            "context": {"cart_value": 0, "returning": True, "locale": "de-DE", "device": "mobile"},
            "events": events}


def test_js_prompt_equals_python_prompt() -> None:
    docs = [json.loads(p.read_text()) for p in sorted(EXAMPLES_DIR.glob("*.json"))]
    docs += [s.trace for s in Simulator(seed=7).generate(150)]
    docs.append(edge_trace())
    cases: list[tuple[dict, int | None]] = [(d, None) for d in docs]
    cases += [(d, 5) for d in docs[:30]]  # long traces cut at the front
    js = run_js(cases)
    assert js["prefix"] == PREFIX and js["suffix"] == SUFFIX and js["version"] == PROMPT_VERSION
    for (doc, max_lines), got in zip(cases, js["prompts"], strict=True):
        trace = parse_trace(doc)
        want = build_prompt(trace) if max_lines is None else render_trace(trace, max_lines)
        assert got == want, f"{doc.get('session_id')}:\nJS:\n{got}\nPython:\n{want}"
    assert [(c["digit"], c["name"], c["recovery_flow"]) for c in js["classes"]] == [
        (c.digit, c.name, c.recovery_flow) for c in CLASSES]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_worker_tests() -> None:
    proc = subprocess.run([NODE, "--test", str(CF / "test")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
