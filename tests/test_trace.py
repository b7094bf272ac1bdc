"""The trace model against the normative JSON Schema (the ``jsonschema`` package is the reference)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formwhy.trace import (
    ERROR_CODES,
    EVENT_TYPES,
    FIELD_TYPES,
    FORM_KINDS,
    PRICE_KINDS,
    SCHEMA_PATH,
    TraceValidationError,
    is_valid,
    parse_trace,
)

SHARED_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def reference_verdict(doc: object) -> bool:
    """jsonschema's verdict plus the one rule the schema cannot state (t non-decreasing)."""
    if not VALIDATOR.is_valid(doc):
        return False
    ts = [e["t"] for e in doc["events"]]  # type: ignore[index]
    return all(a <= b for a, b in zip(ts, ts[1:], strict=False))


def test_packaged_schema_is_the_shared_one() -> None:
    shared = SHARED_EXAMPLES.parent / "trace-v1.schema.json"
    if shared.exists():
        assert json.loads(shared.read_text()) == SCHEMA


@pytest.mark.parametrize("path", sorted(SHARED_EXAMPLES.glob("*.json")) or sorted(
    (SCHEMA_PATH.parent / "examples").glob("*.json")), ids=lambda p: p.name)
def test_spec_examples_validate(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert VALIDATOR.is_valid(doc)
    trace = parse_trace(doc)
    assert trace.to_dict()["events"] == doc["events"]


def _example() -> dict:
    return json.loads((SCHEMA_PATH.parent / "examples" / "1-price_shock.json").read_text())


@pytest.mark.parametrize("key", ["value", "text", "raw", "keystrokes"])
def test_value_keys_are_errors_with_a_path(key: str) -> None:
    doc = _example()
    doc["events"][12][key] = "4111"
    with pytest.raises(TraceValidationError) as info:
        parse_trace(doc)
    assert info.value.errors == [
        f"events[12].{key}: unknown key is not allowed "
        "(formwhy never records typed values; only the keys of the schema)"
    ]


def test_error_messages_name_path_and_rule() -> None:
    doc = _example()
    doc["events"][12]["len"] = -1
    doc["form"]["fields"][2]["type"] = "street"
    doc["context"]["currency"] = "eur"
    doc["events"][15]["type"] = "explode"
    with pytest.raises(TraceValidationError) as info:
        parse_trace(doc)
    errs = info.value.errors
    assert "events[12].len: must be >= 0" in errs
    assert any(e.startswith("form.fields[2].type: must be one of") for e in errs)
    assert any(e.startswith("context.currency: must match") for e in errs)
    assert any(e.startswith("events[15].type: unknown event type 'explode'") for e in errs)


@pytest.mark.parametrize("where", ["context", "session_id", "events[16].field", "form.fields[0].sensitive"])
def test_explicit_null_is_an_error_as_in_the_schema(where: str) -> None:
    doc = _example()
    if where == "context":
        doc["context"] = None
    elif where == "session_id":
        doc["session_id"] = None
    elif where == "events[16].field":
        doc["events"][16]["field"] = None
    else:
        doc["form"]["fields"][0]["sensitive"] = None
    assert not VALIDATOR.is_valid(doc)
    with pytest.raises(TraceValidationError) as info:
        parse_trace(doc)
    assert f"{where}: must not be null" in info.value.errors


def test_t_must_not_decrease() -> None:
    doc = _example()
    doc["events"][5]["t"] = 10
    assert VALIDATOR.is_valid(doc)  # the schema cannot say it ...
    with pytest.raises(TraceValidationError) as info:
        parse_trace(doc)
    assert info.value.errors == ["events[5].t: must be >= the previous event's t (1020); got 10"]


def test_limits_events_and_fields() -> None:
    doc = _example()
    doc["events"] = [{"t": i, "type": "hidden"} for i in range(5000)]
    assert is_valid(doc)
    doc["events"].append({"t": 5000, "type": "exit"})
    with pytest.raises(TraceValidationError) as info:
        parse_trace(doc)
    assert info.value.errors == ["events: must have at most 5000 item(s)"]
    doc = _example()
    doc["form"]["fields"] = [{"name": f"f{i}", "type": "text"} for i in range(200)]
    assert is_valid(doc)
    doc["form"]["fields"].append({"name": "f200", "type": "text"})
    assert not is_valid(doc) and not VALIDATOR.is_valid(doc)


def test_integral_floats_are_integers_and_bools_are_not() -> None:
    doc = _example()
    doc["events"][0]["t"] = 0.0
    assert is_valid(doc) and VALIDATOR.is_valid(doc)
    doc["events"][0]["t"] = 0.5
    assert not is_valid(doc) and not VALIDATOR.is_valid(doc)
    doc = _example()
    doc["events"][0]["step"] = True
    assert not is_valid(doc) and not VALIDATOR.is_valid(doc)


def test_known_divergence_trailing_newline_in_name() -> None:
    """jsonschema matches patterns with Python's re.search, whose ``$`` matches before a final newline.

    JSON Schema patterns are ECMA-262, where it does not: formwhy rejects such a name (documented in trace.py).
    """
    doc = _example()
    doc["events"][1]["field"] = "email\n"
    assert VALIDATOR.is_valid(doc)
    assert not is_valid(doc)


# --- differential testing against jsonschema -------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9_.\-\[\]]{1,12}", fullmatch=True)
small_int = st.integers(min_value=0, max_value=2000)


def event_strategy(field_names: list[str]) -> st.SearchStrategy[dict]:
    fname = st.sampled_from(field_names) | names
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("view"), "step": st.integers(1, 5)}),
        st.fixed_dictionaries({"type": st.sampled_from(["focus", "blur", "autofill", "change"]), "field": fname}),
        st.fixed_dictionaries({"type": st.sampled_from(["input", "paste"]), "field": fname, "len": small_int}),
        st.fixed_dictionaries({"type": st.just("error"), "code": st.sampled_from(ERROR_CODES)},
                              optional={"field": fname}),
        st.fixed_dictionaries({"type": st.just("click"), "target": names}),
        st.fixed_dictionaries({"type": st.just("price"), "kind": st.sampled_from(PRICE_KINDS),
                               "amount": st.floats(0, 5000, allow_nan=False) | st.integers(0, 5000)}),
        st.fixed_dictionaries({"type": st.just("submit"), "step": st.integers(1, 5)}),
        st.fixed_dictionaries({"type": st.just("response"), "ok": st.booleans()},
                              optional={"status": st.integers(0, 999), "ms": st.integers(0, 600000)}),
        st.fixed_dictionaries({"type": st.just("js_error")}, optional={"code": names}),
        st.fixed_dictionaries({"type": st.sampled_from(["hidden", "visible", "exit"])}),
    )


@st.composite
def traces(draw: st.DrawFn) -> dict:
    fields = draw(st.lists(
        st.fixed_dictionaries({"name": names, "type": st.sampled_from(FIELD_TYPES)},
                              optional={"step": st.integers(1, 4), "required": st.booleans(),
                                        "sensitive": st.booleans()}),
        min_size=1, max_size=5))
    field_names = [f["name"] for f in fields]
    n = draw(st.integers(1, 12))
    deltas = draw(st.lists(st.integers(0, 50_000), min_size=n, max_size=n))
    events, t = [], 0
    for d in deltas:
        t += d
        ev = draw(event_strategy(field_names))
        events.append({"t": t, **ev})
    doc = {"schema": "formwhy.trace/v1",
           "form": {"id": draw(st.text(min_size=1, max_size=20)), "kind": draw(st.sampled_from(FORM_KINDS)),
                    "steps": draw(st.integers(1, 4)), "fields": fields},
           "events": events}
    if draw(st.booleans()):
        doc["context"] = draw(st.fixed_dictionaries({}, optional={
            "device": st.sampled_from(["desktop", "mobile", "tablet"]), "returning": st.booleans(),
            "cart_value": st.floats(0, 1e4, allow_nan=False), "currency": st.sampled_from(["EUR", "USD", "GBP"]),
            "locale": st.text(max_size=10)}))
    if draw(st.booleans()):
        doc["session_id"] = draw(st.text(max_size=20))
    return doc


BAD_VALUES = [None, True, False, -1, -0.5, 1.5, 0, 3.0, 1e10, "", "x", "bad name", "a" * 65, "abc\u00e9", [], {},
              "EUR", "eur", 999, 1000, 600001, 86_400_001, 50, 51, "required", "total", "view", 2.0e9]


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    """A valid trace with one to three random breakages (or none)."""
    doc = copy.deepcopy(draw(traces()))
    for _ in range(draw(st.integers(0, 3))):
        # pick a random object in the document and do something to it
        objs = [doc, doc.get("form"), doc.get("context")]
        if isinstance(doc.get("form"), dict) and isinstance(doc["form"].get("fields"), list):
            objs += doc["form"]["fields"]
        if isinstance(doc.get("events"), list):
            objs += doc["events"]
        objs = [o for o in objs if isinstance(o, dict)]
        target = draw(st.sampled_from(objs))
        action = draw(st.sampled_from(["delete", "set", "add", "type", "swap_t"]))
        keys = list(target)
        if action == "delete" and keys:
            del target[draw(st.sampled_from(keys))]
        elif action == "set" and keys:
            target[draw(st.sampled_from(keys))] = draw(st.sampled_from(BAD_VALUES))
        elif action == "add":
            key = draw(st.sampled_from(["value", "text", "len", "field", "code", "step", "ok", "amount", "ms",
                                        "status", "kind", "target", "sensitive", "extra"]))
            target[key] = draw(st.sampled_from(BAD_VALUES + [1, "email", "invalid_format"]))
        elif action == "type" and "type" in target and isinstance(target.get("t"), int):
            target["type"] = draw(st.sampled_from(list(EVENT_TYPES) + ["bogus", "Input"]))
        elif action == "swap_t" and isinstance(doc.get("events"), list) and len(doc["events"]) > 1:
            i = draw(st.integers(0, len(doc["events"]) - 2))
            a, b = doc["events"][i], doc["events"][i + 1]
            if isinstance(a, dict) and isinstance(b, dict) and isinstance(b.get("t"), int):
                a["t"] = b["t"] + 1
    return doc


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_generated_traces_agree_with_jsonschema(doc: dict) -> None:
    assert is_valid(doc) == reference_verdict(doc)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_traces_agree_with_jsonschema(doc: dict) -> None:
    verdict = is_valid(doc)
    assert verdict == reference_verdict(doc), json.dumps(doc)[:2000]
    if not verdict:
        with pytest.raises(TraceValidationError) as info:
            parse_trace(doc)
        assert info.value.errors and all(": " in e for e in info.value.errors)
