"""Training-time augmentation (formwhy.augment) and the typed field labels of prompt v3 (formwhy.render)."""

from __future__ import annotations

import json
import random

import pytest

from formwhy.augment import LANGUAGES, TAB_SWITCH_MS, augment_examples, insert_tab_switch, localize
from formwhy.build import simulated_examples
from formwhy.render import field_labels, relabel, render_trace
from formwhy.taxonomy import DEFAULT_PRIOR
from formwhy.trace import parse_trace


def _doc(fields: list[dict], events: list[dict]) -> dict:
    return {"schema": "formwhy.trace/v1", "session_id": "s-1",
            "form": {"id": "f", "kind": "signup", "steps": 1, "fields": fields}, "events": events}


def test_typed_fields_are_labelled_by_type_and_labels_are_unique() -> None:
    doc = _doc([{"name": "clave", "type": "password", "required": True},
                {"name": "clave_repetir", "type": "password"},
                {"name": "password", "type": "text"},  # a generic field whose name is another field's label
                {"name": "password_2_text", "type": "text"},
                {"name": "password_2", "type": "text"},  # its name and its first fallback are both taken
                {"name": "ciudad", "type": "text"},
                {"name": "clave", "type": "password"}],  # a repeated name keeps its first label
               [{"t": 0, "type": "view", "step": 1}, {"t": 500, "type": "focus", "field": "clave"},
                {"t": 3000, "type": "blur", "field": "clave"}, {"t": 4000, "type": "focus", "field": "undeclared"},
                {"t": 5000, "type": "exit"}])
    trace = parse_trace(doc)
    assert field_labels(trace.form) == {"clave": "password", "clave_repetir": "password_2",
                                        "password": "password_text", "password_2_text": "password_2_text",
                                        "password_2": "password_2_text2", "ciudad": "ciudad"}
    lines = render_trace(trace).splitlines()
    assert lines[1] == ("fields password! password_2 password_text password_2_text password_2_text2 ciudad "
                        "password")
    assert lines[3:] == ["focus password", "+4s focus undeclared", "+1s exit"]  # an undeclared field keeps its name


def test_relabel_replaces_whole_names_only() -> None:
    names = {"promo": "coupon", "zip": "postal_code", "card_exp": "card_expiry", "same": "same"}
    text = "Typed into promo, then zip and card_exp. Left promo_code and zipper alone; zip."
    assert relabel(text, names) == ("Typed into coupon, then postal_code and card_expiry. Left promo_code and "
                                    "zipper alone; postal_code.")
    assert relabel(text, {}) == text


def test_localize_renames_click_targets_and_generic_fields_consistently() -> None:
    doc = _doc([{"name": "city", "type": "text"}, {"name": "pwd", "type": "password"},
                {"name": "ville", "type": "text"}],  # "city" in French is taken: city keeps its name
               [{"t": 0, "type": "view", "step": 1}, {"t": 900, "type": "input", "field": "city", "len": 5},
                {"t": 2000, "type": "click", "target": "forgot_password"},
                {"t": 3000, "type": "click", "target": "not_in_the_tables"}, {"t": 4000, "type": "exit"}])
    doc["context"] = {"locale": "en-GB"}
    out, rename = localize(doc, "fr", random.Random(0))
    assert rename == {"forgot_password": "mot_de_passe_oublie"}
    assert [f["name"] for f in out["form"]["fields"]] == ["city", "pwd", "ville"]
    assert out["events"][2]["target"] == "mot_de_passe_oublie" and out["events"][3]["target"] == "not_in_the_tables"
    assert out["context"]["locale"].startswith("fr-")
    assert doc["events"][2]["target"] == "forgot_password"  # the input is not changed
    out, rename = localize(doc, "de", random.Random(0))
    assert rename == {"city": "stadt", "forgot_password": "passwort_vergessen"}
    assert out["events"][1]["field"] == "stadt" and out["form"]["fields"][0]["name"] == "stadt"
    with pytest.raises(ValueError, match="language must be one of"):
        localize(doc, "xx", random.Random(0))


def test_tab_switch_is_inserted_mid_session_and_shifts_what_follows() -> None:
    events = [{"t": 0, "type": "view", "step": 1}, {"t": 1000, "type": "focus", "field": "a"},
              {"t": 2000, "type": "submit", "step": 1}, {"t": 2500, "type": "response", "ok": True},
              {"t": 4000, "type": "focus", "field": "b"}, {"t": 5000, "type": "blur", "field": "b"},
              {"t": 6000, "type": "exit"}]
    doc = _doc([{"name": "a", "type": "text"}, {"name": "b", "type": "text"}], events)
    for seed in range(40):
        out = insert_tab_switch(doc, random.Random(seed))
        parse_trace(out)  # times still never decrease
        types = [e["type"] for e in out["events"]]
        i = types.index("hidden")
        assert types[i + 1] == "visible" and types.count("hidden") == 1
        assert types[i - 1] != "submit" and types[i + 2] != "response"  # never inside a wait for the server
        assert i + 2 <= len(types) - 3 + 2  # not among the last three original events
        gap = out["events"][i + 1]["t"] - out["events"][i]["t"]
        assert TAB_SWITCH_MS[0] <= gap <= TAB_SWITCH_MS[1]
        assert out["events"][-1]["t"] - 6000 > gap  # the exit moved later by at least the switch
    assert [e["type"] for e in doc["events"]].count("hidden") == 0  # the input is not changed
    short = _doc([{"name": "a", "type": "text"}], events[:2] + [{"t": 3000, "type": "exit"}])
    assert insert_tab_switch(short, random.Random(0)) == short  # no place for it


def test_augment_examples_is_seeded_keeps_labels_and_validates() -> None:
    examples = simulated_examples(60, seed=3, prior=DEFAULT_PRIOR, hard_share=0.25)
    a, ra = augment_examples(examples, localize_share=0.5, tab_switch_share=0.5, seed=1)
    b, rb = augment_examples(examples, localize_share=0.5, tab_switch_share=0.5, seed=1)
    assert [x.trace.to_dict() for x in a] == [x.trace.to_dict() for x in b] and ra == rb
    assert [x.label for x in a] == [x.label for x in examples]
    assert 10 < sum(bool(r) for r in ra) < 50  # about half renamed
    switched = sum(json.dumps(x.trace.to_dict()).count('"hidden"') > json.dumps(y.trace.to_dict()).count('"hidden"')
                   for x, y in zip(a, examples, strict=True))
    assert 10 < switched < 50
    none, rn = augment_examples(examples, localize_share=0.0, tab_switch_share=0.0)
    assert [x.trace for x in none] == [x.trace for x in examples] and not any(rn)
    with pytest.raises(ValueError, match="tab_switch_share must be within"):
        augment_examples(examples, localize_share=0.5, tab_switch_share=1.5)


def test_every_language_row_is_complete_and_a_valid_name() -> None:
    import re

    from formwhy.augment import _CLICKS, _FIELD_CONCEPTS, _FIELD_NAMES
    from formwhy.trace import NAME_PATTERN

    for table in (_CLICKS, _FIELD_CONCEPTS):
        for english, row in table.items():
            assert len(row) == len(LANGUAGES), english
            assert all(re.fullmatch(NAME_PATTERN.strip("^$"), w) for w in row), english
    assert set(_FIELD_NAMES.values()) == set(_FIELD_CONCEPTS)


def test_training_records_name_fields_as_the_prompt_does() -> None:
    from formwhy.llm.train import to_records

    ex = simulated_examples(200, seed=5, prior=DEFAULT_PRIOR, hard_share=0.25)
    aug, renames = augment_examples(ex, localize_share=1.0, tab_switch_share=0.0)
    records = to_records(aug, 40, renames)
    renamed = [(r, rec) for r, rec in zip(renames, records, strict=True) if r]
    assert renamed
    for rename, rec in renamed:
        reasoning = json.loads(rec["completion"].split("\n", 1)[1])["reasoning"]
        for old, new in rename.items():
            if old in reasoning.replace(".", " ").replace(",", " ").replace(";", " ").split():
                raise AssertionError(f"{old!r} (renamed {new!r}) is still in the reasoning: {reasoning}")
