"""The answer format: build the target, parse answers, typed errors for malformed ones."""

from __future__ import annotations

import json
import math

import pytest

from formwhy.answer import AnswerFormatError, build_target, parse_answer
from formwhy.taxonomy import CLASSES


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_round_trip(cls) -> None:  # noqa: ANN001
    text = build_target(cls.name, "  Left 4 s after\nshipping appeared. ", 0.8234)
    first, second = text.split("\n")
    assert first == str(cls.digit)
    assert json.loads(second) == {"class": cls.name, "reasoning": "Left 4 s after shipping appeared.",
                                  "confidence": 0.82}
    ans = parse_answer(text)
    assert (ans.digit, ans.label, ans.confidence) == (cls.digit, cls.name, 0.82)


def test_spec_example_parses_and_trailing_text_is_ignored() -> None:
    text = ('1\n{"class": "price_shock", "reasoning": "Left 4 s after shipping of 12.90 was added; two coupon '
            'attempts failed.", "confidence": 0.82}\n\n2\n{"class"')
    ans = parse_answer(text)
    assert ans.label == "price_shock" and ans.confidence == 0.82 and ans.reasoning.startswith("Left 4 s")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("price_shock\n{}", "no_digit"),
        ("12\n{}", "no_digit"),
        ("7\n{}", "bad_digit"),
        ("1", "no_json"),
        ("1\nsure, here it is", "no_json"),
        ('1\n{"class": "price_shock", "reasoning": "x", "confidence": 0.8', "bad_json"),
        ('1\n{"class": "price_shock", "confidence": 0.8}', "missing_key"),
        ('1\n{"class": "cheap", "reasoning": "x", "confidence": 0.8}', "bad_class"),
        ('1\n{"class": "distraction", "reasoning": "x", "confidence": 0.8}', "class_mismatch"),
        ('1\n{"class": "price_shock", "reasoning": "", "confidence": 0.8}', "bad_reasoning"),
        ('1\n{"class": "price_shock", "reasoning": "x", "confidence": 85}', "bad_confidence"),
        ('1\n{"class": "price_shock", "reasoning": "x", "confidence": "high"}', "bad_confidence"),
        ('1\n{"class": "price_shock", "reasoning": "x", "confidence": true}', "bad_confidence"),
    ],
)
def test_malformed_answers_raise_typed_errors(text: str, reason: str) -> None:
    with pytest.raises(AnswerFormatError) as info:
        parse_answer(text)
    assert info.value.reason == reason
    assert str(info.value).startswith(reason + ": ")


def test_digit_only_when_json_not_required() -> None:
    ans = parse_answer(" 6\n", require_json=False)
    assert ans.label == "distraction" and math.isnan(ans.confidence)


def test_build_target_rejects_bad_input() -> None:
    with pytest.raises(KeyError):
        build_target("nope", "x", 0.5)
    with pytest.raises(ValueError):
        build_target("price_shock", "x", 1.5)
    with pytest.raises(ValueError):
        build_target("price_shock", "   ", 0.5)
