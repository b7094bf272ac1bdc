"""The model's answer format (spec section 3): the class digit alone on the first line, then one JSON object.

::

    1
    {"class": "price_shock", "reasoning": "Left 4 s after shipping of 12.90 was added.", "confidence": 0.82}

:func:`build_target` makes the training target; :func:`parse_answer` reads a model's answer and raises
:class:`AnswerFormatError` (with a ``reason`` code) when it is malformed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from formwhy.taxonomy import NAMES, by_digit, by_name


class AnswerFormatError(ValueError):
    """A model answer that does not follow the format. ``reason`` is a short machine code."""

    def __init__(self, reason: str, message: str, text: str = "") -> None:
        self.reason = reason
        self.text = text
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True)
class Answer:
    digit: int
    label: str
    reasoning: str
    confidence: float


def build_target(label: str, reasoning: str, confidence: float) -> str:
    """The exact text the model is trained to produce for one example."""
    cls = by_name(label)
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {confidence}")
    reasoning = " ".join(reasoning.split())
    if not reasoning:
        raise ValueError("reasoning must not be empty")
    obj = {"class": cls.name, "reasoning": reasoning, "confidence": round(float(confidence), 2)}
    return f"{cls.digit}\n{json.dumps(obj, ensure_ascii=False)}"


def parse_answer(text: str, *, require_json: bool = True) -> Answer:
    """Parse a model's answer.

    The first non-space character must be a class digit on a line of its own; the rest must hold one JSON object
    with ``class`` (agreeing with the digit), ``reasoning`` (non-empty string) and ``confidence`` (a number in
    [0, 1]; a percentage such as 85 is *not* accepted, it is an error). Text after the JSON object is ignored (a
    generation that ran on past the answer). With ``require_json=False`` a bare digit is enough.
    """
    stripped = text.lstrip()
    if not stripped:
        raise AnswerFormatError("empty", "the answer is empty", text)
    first, _, rest = stripped.partition("\n")
    first = first.strip()
    if len(first) != 1 or not first.isdigit():
        raise AnswerFormatError("no_digit", f"the first line must be a class digit 1-6, got {first[:40]!r}", text)
    try:
        cls = by_digit(first)
    except KeyError:
        raise AnswerFormatError("bad_digit", f"{first} is not a class digit (1-6)", text) from None
    rest = rest.strip()
    if not rest:
        if require_json:
            raise AnswerFormatError("no_json", "no JSON object after the digit line", text)
        return Answer(cls.digit, cls.name, "", math.nan)
    if not rest.startswith("{"):
        raise AnswerFormatError("no_json", f"expected a JSON object after the digit, got {rest[:40]!r}", text)
    try:
        obj, _end = json.JSONDecoder().raw_decode(rest)
    except json.JSONDecodeError as exc:
        raise AnswerFormatError("bad_json", f"the JSON object does not parse: {exc.msg} at {exc.pos}", text) from None
    if not isinstance(obj, dict):
        raise AnswerFormatError("bad_json", "the JSON after the digit is not an object", text)
    missing = [k for k in ("class", "reasoning", "confidence") if k not in obj]
    if missing:
        raise AnswerFormatError("missing_key", f"the JSON object lacks {', '.join(missing)}", text)
    if obj["class"] not in NAMES:
        raise AnswerFormatError("bad_class", f"class {obj['class']!r} is not one of {', '.join(NAMES)}", text)
    if obj["class"] != cls.name:
        raise AnswerFormatError(
            "class_mismatch", f"the digit says {cls.name} but the JSON says {obj['class']}", text)
    reasoning = obj["reasoning"]
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise AnswerFormatError("bad_reasoning", "reasoning must be a non-empty string", text)
    conf = obj["confidence"]
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not math.isfinite(conf):
        raise AnswerFormatError("bad_confidence", f"confidence must be a number, got {conf!r}", text)
    if not 0.0 <= conf <= 1.0:
        raise AnswerFormatError("bad_confidence", f"confidence must be within [0, 1], got {conf}", text)
    return Answer(cls.digit, cls.name, reasoning.strip(), float(conf))
