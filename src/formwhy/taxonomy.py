"""The six abandonment classes of the formwhy v1 contract (``shared/spec/README.md`` section 1).

This module is the single place that knows the digits, the machine names, the recovery flows and the default
traffic prior. Everything else imports from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AbandonClass:
    digit: int
    name: str
    description: str
    signals: str
    recovery_flow: str
    recovery: str
    prior: float


CLASSES: tuple[AbandonClass, ...] = (
    AbandonClass(
        1,
        "price_shock",
        "the cost shown (shipping, tax, fees, total) was more than expected",
        "price events late in the form, leaving soon after a total or shipping cost appears, coupon hunting",
        "discount",
        "show the full cost earlier, offer a free-shipping threshold or a discount",
        0.25,
    ),
    AbandonClass(
        2,
        "account_wall",
        "the form demanded an account or login",
        "leaving at or just after password fields or an account step, click login / forgot_password, no errors",
        "guest_checkout",
        "guest checkout, passwordless or social sign-in",
        0.10,
    ),
    AbandonClass(
        3,
        "trust_concern",
        "the visitor did not trust the site with sensitive data",
        "long focus on sensitive fields with little input, input typed then deleted, privacy/security clicks",
        "trust_message",
        "trust badges, say why a field is needed, make it optional, offer a wallet payment",
        0.10,
    ),
    AbandonClass(
        4,
        "form_friction",
        "the form was too long or hard to fill",
        "repeated validation errors and corrections, slowing pace, many refocus/returns, leaving mid-form",
        "inline_help",
        "inline help, relaxed formats, autofill, shorter form, save progress",
        0.15,
    ),
    AbandonClass(
        5,
        "technical_error",
        "the site failed the visitor",
        "response ok=false or a long ms, js_error, rage submits, error code declined",
        "oncall_alert",
        "alert the on-call engineer, retry, offer a support contact",
        0.10,
    ),
    AbandonClass(
        6,
        "distraction",
        "the visitor was interrupted or only browsing",
        "long hidden time with no or a brief return, long idle gaps, little input, no friction signals",
        "reminder",
        "save the form, send a reminder",
        0.30,
    ),
)

NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
DIGITS: tuple[str, ...] = tuple(str(c.digit) for c in CLASSES)
NUM_CLASSES = len(CLASSES)
DEFAULT_PRIOR: dict[str, float] = {c.name: c.prior for c in CLASSES}

_BY_NAME = {c.name: c for c in CLASSES}
_BY_DIGIT = {c.digit: c for c in CLASSES}


def by_name(name: str) -> AbandonClass:
    """The class with this machine name; a clear ``KeyError`` otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown class {name!r}; expected one of {', '.join(NAMES)}") from None


def by_digit(digit: int | str) -> AbandonClass:
    """The class with this digit (1-6, int or str)."""
    try:
        return _BY_DIGIT[int(digit)]
    except (KeyError, ValueError):
        raise KeyError(f"unknown class digit {digit!r}; expected 1-{NUM_CLASSES}") from None


def index_of(name: str) -> int:
    """0-based index of a class name (the column in a probability matrix)."""
    return by_name(name).digit - 1


def parse_prior(text: str) -> dict[str, float]:
    """Parse ``name=weight,name=weight`` (missing classes get 0) and normalise to sum 1; ``uniform`` gives every
    class the same weight."""
    if text.strip().lower() == "uniform":
        return {n: 1.0 / len(NAMES) for n in NAMES}
    prior = {n: 0.0 for n in NAMES}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise ValueError(f"prior entry {part!r}: expected name=weight")
        name, _, weight = part.partition("=")
        by_name(name.strip())
        try:
            w = float(weight)
        except ValueError:
            raise ValueError(f"prior entry {part!r}: weight is not a number") from None
        if not w >= 0:
            raise ValueError(f"prior entry {part!r}: weight must be >= 0")
        prior[name.strip()] = w
    total = sum(prior.values())
    if total <= 0:
        raise ValueError("prior: at least one class needs a positive weight")
    return {n: w / total for n, w in prior.items()}
