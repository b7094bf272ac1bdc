"""The compact rendering: deterministic, compact, and cut at the front for long traces."""

from __future__ import annotations

import json

from formwhy.render import fmt_delta, render_trace
from formwhy.simulate import Simulator
from formwhy.trace import example_traces, parse_trace


def test_examples_render_deterministically() -> None:
    for trace in example_traces().values():
        assert render_trace(trace) == render_trace(parse_trace(trace.to_dict()))


def test_price_shock_example_lines() -> None:
    text = render_trace(example_traces()["price_shock"])
    lines = text.splitlines()
    assert lines[0] == "form checkout shop-checkout, 2 steps, desktop, cart 48.9 EUR"
    # typed fields are called by their type: full_name (name), zip (postal_code), promo (coupon), card_exp
    assert lines[1] == ("fields s1: email! name! address! postal_code! | s2: coupon card_number!* card_expiry!* "
                        "card_cvc!*")
    assert "+1s autofill email name address postal_code" in lines  # the focus 0.1 s before it is folded away
    assert "price shipping 14.9" in lines  # 0.1 s after the line before: no time written
    assert "+4s input coupon 8 x2" in lines
    assert "+43s visible" in lines
    assert lines[-1] == "+4s exit"


def test_sensitive_fields_are_starred_in_events() -> None:
    text = render_trace(example_traces()["trust_concern"])
    lines = text.splitlines()
    # the 13 s pause between focusing the SSN field and typing keeps its focus line: hesitation is the signal
    i = lines.index("focus ssn*")
    assert lines[i + 1] == "+13s input ssn* 0 x2 del1 max3"
    assert "focus first_name" not in lines  # typed at once: folded


def test_long_input_runs_collapse_with_deletions() -> None:
    doc = json.loads(json.dumps(example_traces()["distraction"].to_dict()))
    lens = [1, 2, 3, 2, 1, 2, 3, 4, 5]
    doc["events"] = [{"t": 0, "type": "view", "step": 1}] + [
        {"t": 100 * (i + 1), "type": "input", "field": "name", "len": n} for i, n in enumerate(lens)
    ] + [{"t": 2000, "type": "exit"}]
    text = render_trace(parse_trace(doc))
    assert "input name 5 x9 del2" in text.splitlines()
    assert text.splitlines()[-1] == "+1s exit"


def test_gaps_under_950_ms_are_not_written() -> None:
    doc = json.loads(json.dumps(example_traces()["distraction"].to_dict()))
    doc["events"] = [{"t": 0, "type": "view", "step": 1}, {"t": 949, "type": "click", "target": "a"},
                     {"t": 1899, "type": "click", "target": "b"}, {"t": 2400, "type": "click", "target": "c"},
                     {"t": 3400, "type": "exit"}]
    assert render_trace(parse_trace(doc)).splitlines()[2:] == [
        "0s view 1", "click a", "+1s click b", "click c", "+1s exit"]  # gaps 949, 950, 501, 1000 ms


def test_fmt_delta() -> None:
    assert [fmt_delta(x) for x in (0, 150, 940, 960, 9949, 12_400, 59_400, 150_000, 5_400_000)] == [
        "0s", "0.1s", "0.9s", "1s", "10s", "12s", "59s", "2.5m", "1.5h"]


def test_long_traces_keep_the_end() -> None:
    doc = example_traces()["price_shock"].to_dict()
    events = [{"t": 0, "type": "view", "step": 1}]
    for i in range(1, 400):
        events.append({"t": i * 1000, "type": "focus" if i % 2 else "blur", "field": "email"})
    events.append({"t": 400_000, "type": "exit"})
    doc["events"] = events
    text = render_trace(parse_trace(doc), max_lines=40)
    lines = text.splitlines()
    assert len(lines) == 2 + 40
    assert lines[2] == "0s view 1"
    assert lines[3].startswith("... 362 events cut (")
    assert lines[-1] == "+1s exit"
    assert sum(1 for line in lines if "email" in line) == 38


def test_rendering_is_under_40_percent_of_json_in_characters() -> None:
    """A cheap proxy run in every test; bench/render_tokens.py measures it in Gemma tokens."""
    sim = Simulator(seed=3)
    ratios = []
    for ex in sim.generate(200):
        trace = parse_trace(ex.trace)
        ratios.append(len(render_trace(trace)) / len(json.dumps(ex.trace)))
    assert sum(ratios) / len(ratios) < 0.40
