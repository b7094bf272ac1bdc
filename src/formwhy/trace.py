"""The trace contract ``formwhy.trace/v1`` as pydantic v2 models.

The models accept exactly what ``spec/trace-v1.schema.json`` (the normative JSON Schema) accepts and reject the
rest, and they add the one rule the schema cannot state: ``t`` never decreases along ``events``.

Matching JSON Schema's types exactly takes some care:

* ``integer`` accepts a JSON number with a zero fractional part (``3.0``) and rejects booleans and strings;
* ``number`` accepts integers and floats, never booleans;
* ``boolean`` accepts only ``true`` / ``false``;
* string ``pattern`` is matched as ECMA-262 would: pydantic's Rust regex engine, where ``$`` is the end of the text.
  The one known difference from the ``jsonschema`` package: it matches patterns with Python's ``re.search``, whose
  ``$`` also matches just before a final ``\\n``, so it accepts a name such as ``"email\\n"``; this module rejects it.

Any key the schema does not list is an error, never dropped: a trace with ``value`` or ``text`` may carry what a
visitor typed, and formwhy never stores that. Errors name the JSON path and the rule, e.g.
``events[12].len: must be >= 0``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

SCHEMA_ID = "formwhy.trace/v1"
MAX_EVENTS = 5000
MAX_FIELDS = 200
MAX_STEPS = 50
MAX_T_MS = 86_400_000

SPEC_DIR = Path(__file__).parent / "spec"
SCHEMA_PATH = SPEC_DIR / "trace-v1.schema.json"
EXAMPLES_DIR = SPEC_DIR / "examples"

NAME_PATTERN = r"^[A-Za-z0-9_.\-\[\]]{1,64}$"

EVENT_TYPES = (
    "view", "focus", "blur", "input", "paste", "autofill", "change", "error", "click", "price", "submit",
    "response", "js_error", "hidden", "visible", "exit",
)
FIELD_TYPES = (
    "text", "name", "email", "tel", "password", "number", "date", "select", "checkbox", "radio", "textarea",
    "address", "postal_code", "card_number", "card_expiry", "card_cvc", "coupon", "other",
)
FORM_KINDS = ("checkout", "signup", "lead", "application", "survey", "other")
ERROR_CODES = ("required", "invalid_format", "too_short", "too_long", "mismatch", "taken", "declined", "other")
PRICE_KINDS = ("subtotal", "shipping", "tax", "fee", "discount", "total")
DEVICES = ("desktop", "mobile", "tablet")


class TraceValidationError(ValueError):
    """A trace broke the contract. ``errors`` holds one ``path: rule`` line per problem."""

    def __init__(self, errors: list[str], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(head + "invalid trace: " + "; ".join(errors))


# --- JSON Schema primitive types -------------------------------------------------------------------------


def _json_integer(v: Any) -> Any:
    """JSON Schema's ``integer``: an int, or a float with no fractional part; never a bool."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    return v


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
JsonNumber = Annotated[float, BeforeValidator(_json_number)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
T = Annotated[JsonInt, Field(ge=0, le=MAX_T_MS)]
Step = Annotated[JsonInt, Field(ge=1, le=MAX_STEPS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- form ------------------------------------------------------------------------------------------------


class FormField(_Strict):
    name: Name
    type: Literal[FIELD_TYPES]  # type: ignore[valid-type]
    step: Step = 1
    required: bool = False
    sensitive: bool = False


class Form(_Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    kind: Literal[FORM_KINDS]  # type: ignore[valid-type]
    steps: Step
    fields: Annotated[list[FormField], Field(min_length=1, max_length=MAX_FIELDS)]


class Context(_Strict):
    device: Literal[DEVICES] | None = None  # type: ignore[valid-type]
    returning: bool | None = None
    cart_value: Annotated[JsonNumber, Field(ge=0)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    locale: Annotated[str, StringConstraints(max_length=35)] | None = None


# --- events ----------------------------------------------------------------------------------------------


class ViewEvent(_Strict):
    t: T
    type: Literal["view"]
    step: Step


class FieldEvent(_Strict):
    """focus, blur, autofill, change: something happened on a field, nothing about its value."""

    t: T
    type: Literal["focus", "blur", "autofill", "change"]
    field: Name


class LengthEvent(_Strict):
    """input, paste: the value's length after the event, never the value."""

    t: T
    type: Literal["input", "paste"]
    field: Name
    len: Annotated[JsonInt, Field(ge=0, le=100_000)]


class ErrorEvent(_Strict):
    t: T
    type: Literal["error"]
    code: Literal[ERROR_CODES]  # type: ignore[valid-type]
    field: Name | None = None


class ClickEvent(_Strict):
    t: T
    type: Literal["click"]
    target: Name


class PriceEvent(_Strict):
    t: T
    type: Literal["price"]
    kind: Literal[PRICE_KINDS]  # type: ignore[valid-type]
    amount: Annotated[JsonNumber, Field(ge=0, le=1e9)]


class SubmitEvent(_Strict):
    t: T
    type: Literal["submit"]
    step: Step


class ResponseEvent(_Strict):
    t: T
    type: Literal["response"]
    ok: bool
    status: Annotated[JsonInt, Field(ge=0, le=999)] | None = None
    ms: Annotated[JsonInt, Field(ge=0, le=600_000)] | None = None


class JsErrorEvent(_Strict):
    t: T
    type: Literal["js_error"]
    code: Name | None = None


class BareEvent(_Strict):
    """hidden, visible, exit."""

    t: T
    type: Literal["hidden", "visible", "exit"]


Event = Annotated[
    ViewEvent | FieldEvent | LengthEvent | ErrorEvent | ClickEvent | PriceEvent | SubmitEvent | ResponseEvent
    | JsErrorEvent | BareEvent,
    Field(discriminator="type"),
]


class Trace(_Strict):
    """One visitor's session on one form, ending in abandonment."""

    schema_: Literal["formwhy.trace/v1"] = Field(alias="schema")
    session_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    form: Form
    context: Context | None = None
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _t_non_decreasing(self) -> Trace:
        prev = 0
        for i, ev in enumerate(self.events):
            if ev.t < prev:
                raise _OrderError(i, ev.t, prev)
            prev = ev.t
        return self

    # -- convenience ------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The trace as plain JSON data, with the optional keys that were absent left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def field_map(self) -> dict[str, FormField]:
        return {f.name: f for f in self.form.fields}

    @property
    def duration_ms(self) -> int:
        return self.events[-1].t


class _OrderError(ValueError):
    def __init__(self, index: int, t: int, prev: int) -> None:
        self.index, self.t, self.prev = index, t, prev
        super().__init__(f"t must be non-decreasing: {t} < {prev}")


# --- error formatting --------------------------------------------------------------------------------------


def _path(loc: tuple[int | str, ...], data: Any) -> str:
    """``('events', 12, 'input', 'len')`` -> ``events[12].len`` (drops the union tag pydantic inserts)."""
    out = ""
    node = data
    i = 0
    while i < len(loc):
        part = loc[i]
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            if part == "schema_":
                part = "schema"
            if isinstance(node, dict) and part not in node and node.get("type") == part:
                i += 1  # the discriminator tag, not a key
                continue
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
        i += 1
    return out or "(root)"


_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be a boolean",
    "string_type": "must be a string",
    "list_type": "must be an array",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def _rule(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key is not allowed (formwhy never records typed values; only the keys of the schema)"
    if kind == "missing":
        return "is required"
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} item(s)"
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return f"unknown event type {ctx.get('tag')!r}; expected one of {', '.join(EVENT_TYPES)}"
    if kind == "union_tag_not_found":
        return "is required (every event needs 't' and 'type')"
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg")))
    return str(err.get("msg", kind))


def format_errors(exc: ValidationError, data: Any) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, _OrderError):
            lines.append(f"events[{error.index}].t: must be >= the previous event's t ({error.prev}); got {error.t}")
            continue
        path = _path(loc, data)
        if err["type"] in ("union_tag_not_found", "union_tag_invalid") and isinstance(err.get("input"), dict):
            path += ".type"
        lines.append(f"{path}: {_rule(err)}")
    return lines


# --- public entry points ---------------------------------------------------------------------------------


def parse_trace(data: Any, source: str | None = None) -> Trace:
    """Validate JSON data (already parsed) as a ``formwhy.trace/v1`` trace.

    Raises :class:`TraceValidationError` listing every problem as ``path: rule``.
    """
    if not isinstance(data, dict):
        raise TraceValidationError([f"(root): must be an object, got {type(data).__name__}"], source)
    nulls = list(_null_paths(data, ""))  # the schema allows null nowhere; pydantic's optional fields would
    try:
        trace = Trace.model_validate(data)
    except ValidationError as exc:
        null_set = set(nulls)
        errors = [e for e in format_errors(exc, data) if e.split(": ", 1)[0] not in null_set]
        raise TraceValidationError([f"{p}: must not be null" for p in nulls] + errors, source) from None
    if nulls:
        raise TraceValidationError([f"{p}: must not be null" for p in nulls], source)
    return trace


def _null_paths(node: Any, path: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if value is None:
                yield sub
            else:
                yield from _null_paths(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if value is None:
                yield f"{path}[{i}]"
            else:
                yield from _null_paths(value, f"{path}[{i}]")


def parse_trace_json(text: str | bytes, source: str | None = None) -> Trace:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceValidationError([f"(root): not valid JSON: {exc}"], source) from None
    return parse_trace(data, source)


def is_valid(data: Any) -> bool:
    try:
        parse_trace(data)
    except TraceValidationError:
        return False
    return True


def load_json_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def example_traces() -> dict[str, Trace]:
    """The spec's example trace per class, keyed by class name (from ``1-price_shock.json`` etc.)."""
    out = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        name = path.stem.split("-", 1)[1]
        out[name] = parse_trace_json(path.read_text(), str(path))
    return out


def canonical_json(data: dict[str, Any] | Trace) -> str:
    """Canonical JSON (sorted keys, no spaces) for exact deduplication."""
    if isinstance(data, Trace):
        data = data.to_dict()
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def iter_json_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(location, parsed JSON)`` from a ``.json`` file (one document) or ``.jsonl`` file (one per line).

    A JSON syntax error is yielded as ``(location, JSONDecodeError)`` so callers can report and go on.
    """
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{path}:{lineno}", exc
    else:
        try:
            yield str(path), json.loads(text)
        except json.JSONDecodeError as exc:
            yield str(path), exc


def unwrap_trace(doc: Any) -> Any:
    """A labelled example (``{"label", "trace", ...}``) holds its trace under ``trace``; a bare trace is itself."""
    if isinstance(doc, dict) and "trace" in doc and "schema" not in doc:
        return doc["trace"]
    return doc


def validate_files(paths: Iterable[Path]) -> tuple[int, list[str]]:
    """Validate traces in ``.json`` / ``.jsonl`` files; returns (number checked, error lines)."""
    n, problems = 0, []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file")
            continue
        for where, doc in iter_json_documents(path):
            n += 1
            if isinstance(doc, json.JSONDecodeError):
                problems.append(f"{where}: not valid JSON: {doc}")
                continue
            try:
                parse_trace(unwrap_trace(doc))
            except TraceValidationError as exc:
                problems.extend(f"{where}: {e}" for e in exc.errors)
    return n, problems
