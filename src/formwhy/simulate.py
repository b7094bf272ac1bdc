"""Behavioural simulator of form visitors: the offline default generator of labelled traces.

A simulated visitor meets a randomized form (checkout of 1-4 steps, sign-up, lead, application, survey; on a
desktop, mobile or tablet) and fills it with human timing: reading dwell before a field, typing in bursts of a few
characters, hesitation, idle gaps and tab switches. Ordinary noise is mixed in whatever the reason for leaving:
autofill, paste, refocusing an earlier field, going back a step, a brief tab switch that is not the reason, a
corrected typo. At a point chosen for the class, the visitor's reason for abandoning plays out (coupon hunting after
a shipping cost, a password wall, hesitation on a card field, repeated validation errors, a failing server, a tab
left hidden) and the session ends.

A share of sessions (``hard_share``) are *hard cases*: the textbook signal is weak or missing, or a misleading
secondary signal is present (a distraction session with one validation error, a price shock without any coupon
hunting, a technical error whose only sign is one slow response, ...).

Every example carries its label, a reasoning sentence grounded in the events it produced, and a verbalized
confidence (lower for hard cases). Generation is seeded: the same seed gives the same traces, byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from formwhy.taxonomy import DEFAULT_PRIOR, NAMES

# --- forms ---------------------------------------------------------------------------------------------------

FieldSpec = tuple[str, str, bool, bool]  # name, type, required, sensitive

_VARIANTS: dict[str, list[str]] = {
    "email": ["email", "e_mail", "customer_email", "contact_email", "user_email", "emailAddress", "work_email"],
    "full_name": ["full_name", "name", "fullName", "customer_name", "your_name"],
    "first_name": ["first_name", "firstName", "given_name", "fname"],
    "last_name": ["last_name", "lastName", "family_name", "surname", "lname"],
    "phone": ["phone", "phone_number", "mobile", "tel", "telephone", "contact_phone"],
    "address": ["address", "address1", "street", "street_address", "shipping_address", "address_line1"],
    "city": ["city", "town", "shipping_city"],
    "zip": ["zip", "postcode", "postal_code", "zip_code", "postalCode"],
    "country": ["country", "country_code", "shipping_country"],
    "coupon": ["promo", "coupon", "promo_code", "discount_code", "voucher", "gift_code"],
    "card_number": ["card_number", "cc_number", "cardnumber", "card_no", "pan"],
    "card_expiry": ["card_exp", "cc_exp", "expiry", "exp_date", "card_expiry"],
    "card_cvc": ["card_cvc", "cvc", "cvv", "security_code", "cc_cvv"],
    "card_name": ["name_on_card", "cardholder", "card_holder_name"],
    "password": ["password", "new_password", "passwd", "account_password", "create_password"],
    "password_confirm": ["password_confirm", "confirm_password", "password2", "repeat_password"],
    "username": ["username", "user_name", "handle", "login"],
    "dob": ["dob", "date_of_birth", "birth_date", "birthday"],
    "national_id": ["ssn", "national_id", "tax_id", "id_number", "passport_number"],
    "company": ["company", "company_name", "organisation", "organization"],
    "message": ["message", "comments", "details", "how_can_we_help", "notes"],
    "team_size": ["team_size", "company_size", "employees", "seats"],
    "income": ["annual_income", "income", "monthly_income", "salary"],
    "employer": ["employer", "employer_name", "occupation", "job_title"],
    "iban": ["iban", "bank_account", "account_number", "routing_number"],
    "terms": ["terms", "accept_terms", "tos", "agree"],
}

_TYPES: dict[str, str] = {
    "email": "email", "full_name": "name", "first_name": "name", "last_name": "name", "phone": "tel",
    "address": "address", "city": "text", "zip": "postal_code", "country": "select", "coupon": "coupon",
    "card_number": "card_number", "card_expiry": "card_expiry", "card_cvc": "card_cvc", "card_name": "name",
    "password": "password", "password_confirm": "password", "username": "text", "dob": "date",
    "national_id": "text", "company": "text", "message": "textarea", "team_size": "select", "income": "number",
    "employer": "text", "iban": "text", "terms": "checkbox",
}

# typical typed length range per role
_LENGTHS: dict[str, tuple[int, int]] = {
    "email": (12, 30), "full_name": (8, 22), "first_name": (3, 10), "last_name": (4, 12), "phone": (9, 14),
    "address": (12, 34), "city": (4, 14), "zip": (4, 8), "coupon": (5, 12), "card_number": (16, 19),
    "card_expiry": (4, 5), "card_cvc": (3, 4), "card_name": (8, 22), "password": (8, 16),
    "password_confirm": (8, 16), "username": (5, 14), "dob": (8, 10), "national_id": (9, 11), "company": (4, 20),
    "message": (20, 180), "income": (4, 6), "employer": (4, 20), "iban": (15, 27),
}
_SENSITIVE = {"card_number", "card_expiry", "card_cvc", "phone", "dob", "national_id", "iban", "income"}
_AUTOFILLABLE = {"email", "full_name", "first_name", "last_name", "phone", "address", "city", "zip", "country"}
_CHOICE_TYPES = {"select", "checkbox", "radio"}


@dataclass
class FormField:
    role: str
    name: str
    type: str
    step: int
    required: bool
    sensitive: bool

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "step": self.step}
        if self.required:
            out["required"] = True
        if self.sensitive:
            out["sensitive"] = True
        return out


@dataclass
class SimForm:
    id: str
    kind: str
    steps: int
    fields: list[FormField]
    has_prices: bool
    price_step: int  # step where shipping / total appear
    account_step: int  # step that holds the password fields (0: none)
    payment_step: int  # step that holds the card fields (0: none)

    def step_fields(self, step: int) -> list[FormField]:
        return [f for f in self.fields if f.step == step]

    def by_role(self, role: str) -> FormField | None:
        return next((f for f in self.fields if f.role == role), None)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "steps": self.steps, "fields": [f.to_json() for f in self.fields]}


_FORM_IDS = {
    "checkout": ["shop-checkout", "checkout", "cart-checkout", "store-checkout", "express-checkout", "order-form"],
    "signup": ["signup", "app-signup", "register", "create-account", "trial-signup", "join"],
    "lead": ["contact-sales", "demo-request", "quote-request", "contact-us", "newsletter", "callback-request"],
    "application": ["loan-application", "job-application", "rental-application", "insurance-quote",
                    "credit-card-application", "visa-form"],
    "survey": ["nps-survey", "feedback-survey", "onboarding-survey", "research-survey", "exit-survey"],
    "other": ["booking-form", "donation-form", "event-registration"],
}


def _mk(rng: random.Random, role: str, step: int, required: bool = True, sensitive: bool | None = None,
        ftype: str | None = None) -> FormField:
    name = rng.choice(_VARIANTS[role]) if role in _VARIANTS else role
    sens = (role in _SENSITIVE) if sensitive is None else sensitive
    return FormField(role, name, ftype or _TYPES.get(role, "text"), step, required, sens)


def make_form(rng: random.Random, kind: str, label: str) -> SimForm:
    """A randomized form of this kind; the label only makes sure the form can show its class's signal."""
    fid = rng.choice(_FORM_IDS[kind])
    if rng.random() < 0.3:
        fid += f"-{rng.choice(['v2', 'eu', 'us', 'mobile', 'new', 'b'])}"
    if kind == "checkout":
        return _checkout(rng, fid, label)
    groups: list[list[FormField]]
    has_prices = False
    account_step = payment_step = 0
    if kind == "signup":
        basic = [_mk(rng, "email", 1)]
        if rng.random() < 0.5:
            basic.insert(0, _mk(rng, "full_name", 1))
        if rng.random() < 0.3:
            basic.append(_mk(rng, "username", 1))
        pw = [_mk(rng, "password", 1)]
        if rng.random() < 0.6:
            pw.append(_mk(rng, "password_confirm", 1))
        extra = []
        if rng.random() < 0.35 or label == "trust_concern":
            extra.append(_mk(rng, "phone", 1, required=rng.random() < 0.7))
        if rng.random() < 0.3:
            extra.append(_mk(rng, "company", 1, required=False))
        if rng.random() < 0.2 or label == "price_shock":
            extra.append(_mk(rng, "card_number", 1))
            extra.append(_mk(rng, "card_expiry", 1))
        extra.append(_mk(rng, "terms", 1, ftype="checkbox"))
        if rng.random() < 0.4:
            groups = [basic + pw, extra]
            account_step = 1
        else:
            groups = [basic + pw + extra]
            account_step = 1
        has_prices = label == "price_shock" or rng.random() < 0.15
        if any(f.role == "card_number" for g in groups for f in g):
            payment_step = len(groups)
    elif kind == "lead":
        g = [_mk(rng, "full_name", 1), _mk(rng, "email", 1)]
        if rng.random() < 0.6:
            g.append(_mk(rng, "company", 1, required=rng.random() < 0.5))
        if rng.random() < 0.5 or label == "trust_concern":
            g.append(_mk(rng, "phone", 1, required=rng.random() < 0.6))
        if rng.random() < 0.5:
            g.append(_mk(rng, "team_size", 1, required=False))
        g.append(_mk(rng, "message", 1, required=rng.random() < 0.3))
        groups = [g]
        if label == "account_wall" or rng.random() < 0.1:
            groups.append([_mk(rng, "password", 2)])
            account_step = 2
    elif kind == "application":
        ident = [_mk(rng, "first_name", 1), _mk(rng, "last_name", 1), _mk(rng, "email", 1), _mk(rng, "phone", 1)]
        personal = [_mk(rng, "dob", 1), _mk(rng, "address", 1), _mk(rng, "zip", 1)]
        money = [_mk(rng, "national_id", 1)]
        if rng.random() < 0.6:
            money.append(_mk(rng, "income", 1))
        if rng.random() < 0.5:
            money.append(_mk(rng, "employer", 1, required=False))
        if rng.random() < 0.3:
            money.append(_mk(rng, "iban", 1))
        parts = [ident, personal, money]
        n_steps = rng.choice([1, 2, 3])
        if n_steps == 1:
            groups = [ident + personal + money]
        elif n_steps == 2:
            groups = [ident + personal, money]
        else:
            groups = parts
        if label == "account_wall" or rng.random() < 0.1:
            groups.append([_mk(rng, "password", 1), _mk(rng, "password_confirm", 1)])
            account_step = len(groups)
        if label == "price_shock" or rng.random() < 0.1:
            has_prices = True
            groups[-1].append(_mk(rng, "card_number", 1))
            payment_step = len(groups)
    else:  # survey / other
        n_q = rng.randint(4, 14)
        q = []
        for i in range(n_q):
            t = rng.choice(["radio", "radio", "select", "checkbox", "textarea", "number", "text"])
            q.append(FormField("q", f"q{i + 1}", t, 1, rng.random() < 0.6, False))
        per = rng.choice([n_q, (n_q + 1) // 2, (n_q + 2) // 3])
        groups = [q[i:i + per] for i in range(0, n_q, per)]
        tail = [_mk(rng, "email", 1, required=rng.random() < 0.3)]
        if label == "trust_concern" or rng.random() < 0.25:
            tail.append(_mk(rng, "phone", 1, required=False))
        if kind == "other" or label == "price_shock":
            tail.append(_mk(rng, "card_number", 1))
            has_prices = True
            payment_step = len(groups)
        groups[-1].extend(tail)
        if label == "account_wall":
            groups.append([_mk(rng, "password", 1)])
            account_step = len(groups)
    fields = []
    for s, g in enumerate(groups, 1):
        for f in g:
            f.step = s
            fields.append(f)
    price_step = payment_step or len(groups)
    return SimForm(fid, kind, len(groups), fields, has_prices, price_step, account_step, payment_step)


def _checkout(rng: random.Random, fid: str, label: str) -> SimForm:
    contact = [_mk(rng, "email", 1)]
    if rng.random() < 0.4:
        contact.append(_mk(rng, "phone", 1, required=rng.random() < 0.5))
    if rng.random() < 0.5:
        ship = [_mk(rng, "full_name", 1)]
    else:
        ship = [_mk(rng, "first_name", 1), _mk(rng, "last_name", 1)]
    ship += [_mk(rng, "address", 1), _mk(rng, "city", 1), _mk(rng, "zip", 1)]
    if rng.random() < 0.5:
        ship.append(_mk(rng, "country", 1))
    pay = []
    if rng.random() < 0.75 or label == "price_shock":
        pay.append(_mk(rng, "coupon", 1, required=False))
    pay += [_mk(rng, "card_number", 1), _mk(rng, "card_expiry", 1), _mk(rng, "card_cvc", 1)]
    if rng.random() < 0.3:
        pay.append(_mk(rng, "card_name", 1))
    account: list[FormField] = []
    if label == "account_wall" or rng.random() < 0.15:
        account = [_mk(rng, "password", 1)]
        if rng.random() < 0.5:
            account.append(_mk(rng, "password_confirm", 1))
    n_steps = rng.choice([1, 2, 2, 3, 3, 4])
    if n_steps == 1:
        groups = [contact + account + ship + pay]
        account_step = 1 if account else 0
    elif n_steps == 2:
        groups = [contact + account + ship, pay] if rng.random() < 0.7 else [contact + ship, account + pay]
        account_step = (1 if account[0] in groups[0] else 2) if account else 0
    elif n_steps == 3:
        if account:
            groups = [contact + account, ship, pay]
            account_step = 1
        else:
            groups = [contact, ship, pay]
            account_step = 0
    else:
        if account:
            groups = [contact, account, ship, pay]
            account_step = 2
        else:
            groups = [contact, ship[:2], ship[2:], pay]
            account_step = 0
    fields = []
    for s, g in enumerate(groups, 1):
        for f in g:
            f.step = s
            fields.append(f)
    steps = len(groups)
    return SimForm(fid, "checkout", steps, fields, True, steps, account_step, steps)


# --- the session builder -----------------------------------------------------------------------------------


class Session:
    """Accumulates events on a clock, with the visitor's personal pace."""

    def __init__(self, rng: random.Random, form: SimForm, device: str) -> None:
        self.rng = rng
        self.form = form
        self.device = device
        self.t = 0
        self.events: list[dict[str, Any]] = []
        slow = {"desktop": 1.0, "tablet": 1.3, "mobile": 1.6}[device]
        self.pace = rng.lognormvariate(0, 0.3) * slow  # >1 is slower
        self.lens: dict[str, int] = {}
        self.step = 1
        self.facts: dict[str, Any] = {}

    def wait(self, lo_ms: float, hi_ms: float | None = None) -> None:
        if hi_ms is None:
            hi_ms = lo_ms * 2
        self.t += int(self.rng.uniform(lo_ms, hi_ms) * self.pace)

    def wait_exact(self, ms: float) -> None:
        self.t += int(ms)

    def add(self, type_: str, **kw: Any) -> None:
        self.events.append({"t": self.t, "type": type_, **kw})

    # ordinary behaviours

    def view(self, step: int) -> None:
        self.step = step
        self.add("view", step=step)

    def fill(self, f: FormField, *, fast: bool = False, typo: float = 0.12) -> None:
        """Focus a field, fill it with human timing, blur."""
        rng = self.rng
        self.wait(300, 1500) if not fast else self.wait(80, 300)
        self.add("focus", field=f.name)
        if f.type in _CHOICE_TYPES:
            self.wait(400, 2500)
            self.add("change", field=f.name)
            self.wait(100, 400)
            self.add("blur", field=f.name)
            return
        lo, hi = _LENGTHS.get(f.role, (3, 24))
        target = rng.randint(lo, hi)
        if f.role in ("email", "card_number", "coupon", "iban") and rng.random() < 0.15:
            self.wait(500, 1500)
            self.add("paste", field=f.name, len=target)
            self.lens[f.name] = target
        else:
            self.type_to(f, target, typo=typo)
        self.wait(100, 500)
        self.add("blur", field=f.name)

    def type_to(self, f: FormField, target: int, typo: float = 0.1) -> None:
        rng = self.rng
        cur = self.lens.get(f.name, 0)
        self.wait(300, 1200)
        per_char = rng.uniform(160, 320)
        while cur < target:
            burst = min(target - cur, rng.randint(2, 6))
            self.wait_exact(per_char * burst * self.pace * rng.uniform(0.7, 1.3))
            cur += burst
            self.add("input", field=f.name, len=cur)
            if rng.random() < typo / 3 and cur > 2:
                self.wait(200, 700)
                cur -= rng.randint(1, 2)
                self.add("input", field=f.name, len=cur)
            if rng.random() < 0.08:
                self.wait(800, 3000)  # a pause to think
        self.lens[f.name] = cur

    def autofill_step(self, fields: list[FormField]) -> list[FormField]:
        """Desktop browsers often autofill the contact/address block at once; returns what was filled."""
        filled = [f for f in fields if f.role in _AUTOFILLABLE]
        if not filled:
            return []
        self.wait(500, 2000)
        self.add("focus", field=filled[0].name)
        self.wait(150, 600)
        for f in filled:
            self.add("autofill", field=f.name)
            self.lens[f.name] = 10
            self.t += self.rng.randint(3, 15)
        return filled

    def fill_fields(self, fields: list[FormField], *, noise: bool = True) -> None:
        rng = self.rng
        todo = list(fields)
        if self.device == "desktop" and rng.random() < 0.35:
            done = self.autofill_step(todo)
            todo = [f for f in todo if f not in done]
        for i, f in enumerate(todo):
            self.fill(f)
            if noise and i > 0 and rng.random() < 0.07:  # refocus an earlier field to check it
                prev = todo[rng.randrange(i)]
                self.wait(300, 1200)
                self.add("focus", field=prev.name)
                self.wait(500, 2000)
                self.add("blur", field=prev.name)
            if noise and rng.random() < 0.04:
                self.brief_tab_switch()

    def brief_tab_switch(self) -> None:
        """Noise: a short look elsewhere that is not the reason for leaving."""
        self.wait(200, 800)
        self.add("hidden")
        self.wait_exact(self.rng.uniform(1500, 14000))
        self.add("visible")

    def submit_ok(self, step: int) -> None:
        self.wait(400, 1500)
        self.add("submit", step=step)
        ms = int(self.rng.lognormvariate(5.8, 0.5))
        self.wait_exact(ms)
        self.add("response", ok=True, status=200, ms=ms)

    def show_prices(self, cart: float, *, shipping: float | None, tax: float | None, fee: float | None = None
                    ) -> float:
        self.wait(50, 200)
        total = cart
        self.add("price", kind="subtotal", amount=round(cart, 2))
        for kind, amount in (("shipping", shipping), ("tax", tax), ("fee", fee)):
            if amount is not None:
                self.t += self.rng.randint(5, 40)
                self.add("price", kind=kind, amount=round(amount, 2))
                total += amount
        self.t += self.rng.randint(5, 40)
        self.add("price", kind="total", amount=round(total, 2))
        return total

    def exit(self, lo_ms: float = 1000, hi_ms: float = 6000) -> None:
        self.wait(lo_ms, hi_ms)
        self.add("exit")


def _secs(ms: float) -> str:
    s = ms / 1000
    if s < 90:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


# --- scenarios ---------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    label: str
    hard: bool
    sess: Session
    cart: float
    currency: str

    @property
    def form(self) -> SimForm:
        return self.sess.form


def _walk_until(sc: Scenario, stop_step: int, *, fill_stop_step: bool | float = False) -> None:
    """Fill steps 1..stop_step-1 completely (submit each), then view stop_step; optionally fill part of it."""
    s, form, rng = sc.sess, sc.form, sc.sess.rng
    for step in range(1, form.steps + 1):
        if step > 1:
            s.wait(100, 400)
            s.view(step)
            if step == 2 and rng.random() < 0.05:  # go back a step to check, then return
                s.wait(1500, 4000)
                s.add("click", target="back")
                s.wait(200, 600)
                s.view(1)
                s.wait(2000, 6000)
                s.submit_ok(1)
                s.wait(100, 300)
                s.view(2)
        if step == form.price_step and form.has_prices and (step != stop_step or sc.label != "price_shock"):
            _prices(sc, late=False)  # every visitor who reaches the payment step sees the costs
        if step == stop_step:
            if fill_stop_step:
                share = 0.5 if fill_stop_step is True else float(fill_stop_step)
                fields = [f for f in form.step_fields(step) if f.role not in ("coupon", "password",
                          "password_confirm") and f.role not in _SENSITIVE]
                s.fill_fields(fields[: max(0, int(len(fields) * share))])
            return
        fields = [f for f in form.step_fields(step) if f.role != "coupon" or rng.random() < 0.1]
        s.fill_fields(fields)
        s.submit_ok(step)


def _prices(sc: Scenario, *, late: bool, shock: float = 1.0) -> dict[str, float]:
    s, rng = sc.sess, sc.sess.rng
    ship = None
    if rng.random() < 0.8:
        ship = round(rng.choice([4.99, 5.9, 6.5, 7.99, 9.9, 12.9, 14.9]) * (shock if late else 1.0), 2)
    tax = round(sc.cart * rng.choice([0.07, 0.08, 0.19, 0.2]), 2) if rng.random() < 0.5 else None
    fee = round(rng.uniform(1.5, 9.0) * shock, 2) if late and rng.random() < 0.35 else None
    total = s.show_prices(sc.cart, shipping=ship, tax=tax, fee=fee)
    out = {"total": total}
    if ship is not None:
        out["shipping"] = ship
    if fee is not None:
        out["fee"] = fee
    return out


def sc_price_shock(sc: Scenario) -> tuple[str, float]:
    s, form, rng = sc.sess, sc.form, sc.sess.rng
    _walk_until(sc, form.price_step, fill_stop_step=rng.random() < 0.3 and 0.4)
    shown = _prices(sc, late=True, shock=rng.uniform(1.4, 2.6))
    t_price = s.t
    what = "a fee of {:.2f}".format(shown["fee"]) if "fee" in shown else (
        "shipping of {:.2f}".format(shown["shipping"]) if "shipping" in shown else
        "a total of {:.2f}".format(shown["total"]))
    coupon = form.by_role("coupon")
    parts = []
    if not sc.hard and coupon is not None and rng.random() < 0.75:
        attempts = rng.randint(1, 3)
        for a in range(attempts):
            s.wait(1500, 6000) if a == 0 else s.wait(800, 2500)
            s.add("focus", field=coupon.name)
            if a > 0 and rng.random() < 0.5:
                s.wait(300, 1200)
                s.add("paste", field=coupon.name, len=rng.randint(5, 12))
            else:
                s.type_to(coupon, rng.randint(5, 11), typo=0)
            s.wait(200, 800)
            s.add("click", target="apply_coupon")
            s.wait(250, 700)
            s.add("error", field=coupon.name, code=rng.choice(["invalid_format", "other", "other"]))
            s.lens[coupon.name] = 0
            if a < attempts - 1 and rng.random() < 0.5:
                s.wait(300, 900)
                s.add("hidden")
                s.wait(15000, 60000)
                s.add("visible")
        parts.append(f"{attempts} coupon attempt{'s' if attempts > 1 else ''} failed")
    elif not sc.hard and rng.random() < 0.6:
        s.wait(2000, 5000)
        s.add("click", target=rng.choice(["shipping_info", "shipping_info", "delivery_options", "order_summary"]))
        s.wait(3000, 9000)
        parts.append("they opened the shipping details")
    if sc.hard:
        # no coupon hunting: the visitor slows down and fills a field or two before leaving
        if rng.random() < 0.5:
            extra = [f for f in form.step_fields(form.price_step) if f.role in ("card_name", "card_number")]
            for f in extra[:1]:
                s.fill(f)
        if rng.random() < 0.4:
            s.brief_tab_switch()
            parts.append("a brief tab switch is not the main signal")
        s.exit(8000, 30000)
    else:
        s.exit(1500, 7000)
    gap = s.t - t_price
    reasoning = f"Left {_secs(gap)} after {what} appeared"
    reasoning += ("; " + "; ".join(parts)) if parts else ", with no errors or failures."
    if not reasoning.endswith("."):
        reasoning += "."
    return reasoning, 0.0


def sc_account_wall(sc: Scenario) -> tuple[str, float]:
    s, form, rng = sc.sess, sc.form, sc.sess.rng
    step = form.account_step or 1
    _walk_until(sc, step, fill_stop_step=False)
    step_fields = form.step_fields(step)
    before = [f for f in step_fields if f.role not in ("password", "password_confirm")]
    pw = [f for f in step_fields if f.role in ("password", "password_confirm")]
    # fill what comes before the password on this step
    idx = step_fields.index(pw[0]) if pw else len(step_fields)
    s.fill_fields([f for f in step_fields[:idx] if f in before][: rng.randint(1, 4)], noise=False)
    parts = []
    if pw:
        s.wait(300, 1200)
        s.add("focus", field=pw[0].name)
        if rng.random() < 0.3:
            s.type_to(pw[0], rng.randint(2, 5), typo=0)
            s.wait(1500, 5000)
            s.add("input", field=pw[0].name, len=0)
            parts.append(f"typed into {pw[0].name} then cleared it")
        else:
            s.wait(2500, 9000)
            parts.append(f"focused {pw[0].name} without typing")
        s.add("blur", field=pw[0].name)
    clicks = []
    if not sc.hard:
        for target in rng.sample(["login", "forgot_password", "guest_checkout", "sign_in_with_google", "help"],
                                 rng.randint(1, 2)):
            s.wait(800, 3500)
            s.add("click", target=target)
            clicks.append(target)
    else:
        if rng.random() < 0.5:  # misleading: an earlier, fixed validation error
            f = before[0] if before else None
            if f is not None:
                s.wait(200, 600)
                s.add("error", field=f.name, code="invalid_format")
                s.wait(800, 2000)
                s.add("focus", field=f.name)
                s.type_to(f, s.lens.get(f.name, 5) + 2, typo=0)
                parts.append("an earlier format error was fixed")
    s.exit(2000, 9000)
    where = f"the account step (step {step})" if form.steps > 1 else "the password field"
    reasoning = f"Left at {where}: " + "; ".join(parts or ["no password entered"])
    if clicks:
        reasoning += f"; clicked {' and '.join(clicks)}"
    reasoning += "; no validation errors." if not sc.hard else "."
    return reasoning, 0.0


def sc_trust_concern(sc: Scenario) -> tuple[str, float]:
    s, form, rng = sc.sess, sc.form, sc.sess.rng
    sens = [f for f in form.fields if f.sensitive]
    target = rng.choice(sens) if sens else form.fields[-1]
    _walk_until(sc, target.step, fill_stop_step=False)
    before = [f for f in form.step_fields(target.step) if f is not target and not f.sensitive
              and f.role not in ("coupon", "password", "password_confirm")]
    idx = form.step_fields(target.step).index(target)
    s.fill_fields([f for f in before if form.step_fields(target.step).index(f) < idx])
    s.wait(300, 1000)
    s.add("focus", field=target.name)
    dwell0 = s.t
    parts = []
    if rng.random() < 0.45:
        s.wait(5000, 15000)
        n = rng.randint(1, 4)
        s.add("input", field=target.name, len=n)
        s.wait(1000, 4000)
        s.add("input", field=target.name, len=0)
        parts.append(f"typed {n} characters into {target.name} then deleted them")
    else:
        s.wait(8000, 25000)
        parts.append(f"held focus on {target.name} for {_secs(s.t - dwell0)} without typing")
    s.wait(200, 800)
    s.add("blur", field=target.name)
    if not sc.hard or rng.random() < 0.3:
        clicks = rng.sample(["privacy_policy", "security_info", "returns_policy", "why_we_ask", "terms"],
                            rng.randint(1, 2))
        for c in clicks:
            s.wait(600, 2500)
            s.add("click", target=c)
        if rng.random() < 0.3:
            s.wait(300, 800)
            s.add("hidden")
            s.wait(8000, 40000)
            s.add("visible")
            parts.append("looked elsewhere and came back")
        parts.append(f"opened {' and '.join(clicks)}")
    elif form.has_prices and rng.random() < 0.5:
        parts.append("a price shown earlier is a weaker signal")
    s.exit(3000, 20000)
    reasoning = "Hesitated at a sensitive field: " + "; ".join(parts) + "."
    return reasoning, 0.0


def sc_form_friction(sc: Scenario) -> tuple[str, float]:
    s, form, rng = sc.sess, sc.form, sc.sess.rng
    stop = rng.randint(1, form.steps)
    _walk_until(sc, stop, fill_stop_step=False)
    fields = [f for f in form.step_fields(stop) if f.type not in _CHOICE_TYPES and f.role != "coupon"]
    if not fields:
        fields = [f for f in form.fields if f.type not in _CHOICE_TYPES] or form.fields
    s.pace *= rng.uniform(1.1, 1.5)  # friction: slower than usual
    if sc.hard and rng.random() < 0.35:
        return _friction_without_errors(sc, stop, fields)
    n_err = rng.randint(1, 2) if sc.hard else rng.randint(2, 5)
    err_fields = rng.sample(fields, min(len(fields), rng.randint(1, 3)))
    errs, refocus = 0, 0
    filled = 0
    for f in fields:
        if errs >= n_err and rng.random() < 0.5:
            break
        s.fill(f, typo=0.3)
        filled += 1
        if f in err_fields and errs < n_err:
            last = f is [g for g in fields if g in err_fields][-1]
            for _ in range(n_err - errs if last else rng.randint(1, 2)):
                code = rng.choice(["invalid_format", "invalid_format", "required", "too_short", "too_long"]
                                  if f.role != "password_confirm" else ["mismatch"])
                s.wait(50, 300)
                s.add("error", field=f.name, code=code)
                errs += 1
                s.wait(1500, 5000)
                s.add("focus", field=f.name)
                refocus += 1
                cur = s.lens.get(f.name, 5)
                s.add("input", field=f.name, len=max(0, cur - rng.randint(1, 4)))
                s.type_to(f, cur + rng.randint(-1, 3), typo=0.2)
                s.wait(100, 400)
                s.add("blur", field=f.name)
    if not sc.hard and rng.random() < 0.5:
        s.wait(800, 3000)
        s.add("submit", step=stop)
        s.wait(80, 300)
        f = rng.choice(err_fields)
        s.add("error", field=f.name, code=rng.choice(["required", "invalid_format"]))
        errs += 1
    if rng.random() < 0.3:
        s.wait(1000, 3000)
        s.add("click", target=rng.choice(["help", "back", "show_password", "format_hint"]))
    if sc.hard and rng.random() < 0.5:
        s.brief_tab_switch()
    if rng.random() < 0.2:  # a long, visible pause over the form before giving up
        s.exit(60_000, 120_000)
    else:
        s.exit(3000, 15000)
    names = sorted({f.name for f in err_fields})
    reasoning = (f"{errs} validation error{'s' if errs != 1 else ''} on {', '.join(names)} with "
                 f"{refocus} correction{'s' if refocus != 1 else ''}; left mid-form at step {stop} of {form.steps}.")
    return reasoning, 0.0


def _friction_without_errors(sc: Scenario, stop: int, fields: list[FormField]) -> tuple[str, float]:
    """Fighting an input mask: no validation message, but the same field cleared and retyped again and again."""
    s, rng = sc.sess, sc.sess.rng
    k = rng.randrange(len(fields))
    for f in fields[:k]:
        s.fill(f, typo=0.25)
    f = fields[k]
    s.wait(300, 1000)
    s.add("focus", field=f.name)
    tries = rng.randint(3, 5)
    for _ in range(tries):
        s.type_to(f, rng.randint(4, 12), typo=0.3)
        s.wait(800, 3000)
        s.add("input", field=f.name, len=0)
        s.lens[f.name] = 0
    s.wait(200, 800)
    s.add("blur", field=f.name)
    s.exit(5000, 40000)
    return (f"Fought the input on {f.name}: cleared and retyped it {tries} times with no validation message; "
            f"left mid-form at step {stop} of {sc.form.steps}."), 0.0


def sc_technical_error(sc: Scenario) -> tuple[str, float]:
    s, form, rng = sc.sess, sc.form, sc.sess.rng
    stop = rng.randint(1, form.steps)
    _walk_until(sc, stop, fill_stop_step=False)
    fields = [f for f in form.step_fields(stop) if f.role != "coupon"]
    s.fill_fields(fields)
    parts = []
    mode = rng.choice(["5xx", "5xx", "timeout", "js", "declined", "generic"]) if not sc.hard else rng.choice(
        ["slow", "js_only", "one_fail", "generic"])
    s.wait(400, 1500)
    s.add("submit", step=stop)
    if mode in ("5xx", "timeout", "one_fail"):
        status = rng.choice([500, 502, 503, 504]) if mode != "timeout" else rng.choice([504, 0, 408])
        ms = int(rng.uniform(300, 3000)) if mode != "timeout" else int(rng.uniform(20000, 60000))
        s.wait_exact(ms)
        s.add("response", ok=False, status=status, ms=ms)
        parts.append(f"the submit failed with status {status} after {_secs(ms)}")
        if mode != "one_fail":
            n = rng.randint(1, 3)
            for _ in range(n):
                s.wait(300, 1200)
                s.add("submit", step=stop)
                if rng.random() < 0.5:
                    ms2 = int(rng.uniform(300, 5000))
                    s.wait_exact(ms2)
                    s.add("response", ok=False, status=status, ms=ms2)
            parts.append(f"{n} more submit{'s' if n > 1 else ''} followed")
            if rng.random() < 0.4:
                s.wait(100, 600)
                s.add("js_error", code=rng.choice(["TypeError", "NetworkError", "ChunkLoadError", "ReferenceError"]))
                parts.append("a script error")
    elif mode == "slow":
        ms = int(rng.uniform(15000, 45000))
        s.wait_exact(ms)
        s.add("response", ok=True, status=200, ms=ms)
        parts.append(f"one response took {_secs(ms)}")
    elif mode in ("js", "js_only"):
        s.wait(100, 600)
        code = rng.choice(["TypeError", "ReferenceError", "ChunkLoadError", "SyntaxError"])
        s.add("js_error", code=code)
        parts.append(f"a {code} script error with no response to the submit")
        if mode == "js":
            for _ in range(rng.randint(2, 4)):
                s.wait(300, 1000)
                s.add("submit", step=stop)
            parts.append("rage submits followed")
    elif mode == "generic":  # the server rejects every submit with a generic, unfielded error message
        n = rng.randint(2, 4) if not sc.hard else 1
        for i in range(n):
            if i:
                s.wait(800, 3000)
                s.add("submit", step=stop)
            s.wait(300, 2500)
            s.add("error", code="other")
        parts.append(f"{n} submit{'s' if n > 1 else ''} answered only by a generic error not tied to any field")
    else:  # declined
        ms = int(rng.uniform(800, 3000))
        s.wait_exact(ms)
        s.add("response", ok=False, status=402, ms=ms)
        s.wait(50, 200)
        card = form.by_role("card_number")
        if card is not None:
            s.add("error", field=card.name, code="declined")
        else:
            s.add("error", code="declined")
        parts.append("the payment was declined")
        if rng.random() < 0.5:
            s.wait(1000, 3000)
            s.add("submit", step=stop)
            s.wait(800, 2500)
            s.add("response", ok=False, status=402, ms=1200)
            parts.append("a retry was declined too")
    if sc.hard and rng.random() < 0.4:
        s.wait(500, 2000)
        s.add("hidden")
        s.wait(3000, 10000)
        s.add("visible")
    if rng.random() < 0.3:
        s.exit(150, 900)  # gone almost at once after the failure
    else:
        s.exit(2000, 12000)
    return "The site failed the visitor: " + "; ".join(parts) + ".", 0.0


def sc_distraction(sc: Scenario) -> tuple[str, float]:
    s, form, rng = sc.sess, sc.form, sc.sess.rng
    stop = rng.randint(1, form.steps)
    _walk_until(sc, stop, fill_stop_step=False)
    fields = [f for f in form.step_fields(stop) if f.role != "coupon"]
    k = rng.randint(0, max(0, min(3, len(fields) - 1)))
    s.fill_fields(fields[:k], noise=False)
    parts = []
    if k < len(fields) and rng.random() < 0.6:
        f = fields[k]
        s.wait(500, 2000)
        s.add("focus", field=f.name)
        if f.type not in _CHOICE_TYPES:
            s.type_to(f, rng.randint(2, 6), typo=0)
        parts.append(f"stopped part-way through {f.name}")
    if sc.hard and rng.random() < 0.5:  # misleading: a single validation error
        f = fields[0] if fields else form.fields[0]
        s.wait(200, 600)
        s.add("error", field=f.name, code=rng.choice(["required", "invalid_format"]))
        parts.append("one validation error is not what made them leave")
    mode = rng.choice(["hidden_gone", "hidden_brief_return", "idle", "hidden_end", "browsing"]) if not sc.hard \
        else rng.choice(["idle", "hidden_moderate", "hidden_brief_return", "browsing"])
    s.wait(300, 3000)
    if mode == "hidden_end":  # the visitor switched away and the trace simply ends there
        s.add("hidden")
        parts.append("the page went hidden and the session ended there")
    elif mode == "browsing":
        for _ in range(rng.randint(1, 3)):
            f = rng.choice(form.fields)
            s.wait(800, 4000)
            s.add("focus", field=f.name)
            s.wait(500, 3000)
            s.add("change" if f.type in _CHOICE_TYPES else "blur", field=f.name)
        target = rng.choice(["see_examples", "pricing", "home", "product_page", "back_to_shop", "gallery",
                             "continue_shopping", "faq"])
        s.wait(800, 3000)
        s.add("click", target=target)
        parts.append(f"browsed a few fields without typing and left through {target}")
        s.wait(100, 600)
        s.add("exit")
    elif mode == "hidden_gone":
        s.add("hidden")
        gap = rng.uniform(10 * 60e3, 4 * 3600e3)
        s.wait_exact(gap)
        parts.append(f"the page stayed hidden for {_secs(gap)}")
        if rng.random() < 0.5:
            s.add("exit")
        else:
            s.add("visible")
            s.wait(500, 3000)
            s.add("exit")
    elif mode == "hidden_brief_return":
        s.add("hidden")
        gap = rng.uniform(5 * 60e3, 60 * 60e3) if not sc.hard else rng.uniform(2 * 60e3, 8 * 60e3)
        s.wait_exact(gap)
        s.add("visible")
        back = rng.uniform(1500, 6000)
        s.wait_exact(back)
        parts.append(f"hidden for {_secs(gap)}, back for {_secs(back)} only")
        if rng.random() < 0.6:
            s.add("hidden")
            s.wait_exact(rng.uniform(60e3, 30 * 60e3))
        s.add("exit")
    elif mode == "hidden_moderate":
        s.add("hidden")
        gap = rng.uniform(60e3, 4 * 60e3)
        s.wait_exact(gap)
        s.add("visible")
        s.wait(2000, 8000)
        parts.append(f"hidden for {_secs(gap)} with no friction before")
        s.add("exit")
    else:
        gap = rng.uniform(3 * 60e3, 30 * 60e3) if not sc.hard else rng.uniform(90e3, 6 * 60e3)
        s.wait_exact(gap)
        parts.append(f"idle for {_secs(gap)} before the session timed out")
        s.add("exit")
    return "Interrupted: " + "; ".join(parts) + "; little input and no friction signals.", 0.0


SCENARIOS: dict[str, Callable[[Scenario], tuple[str, float]]] = {
    "price_shock": sc_price_shock,
    "account_wall": sc_account_wall,
    "trust_concern": sc_trust_concern,
    "form_friction": sc_form_friction,
    "technical_error": sc_technical_error,
    "distraction": sc_distraction,
}

_KINDS_FOR: dict[str, list[tuple[str, float]]] = {
    "price_shock": [("checkout", 0.8), ("signup", 0.08), ("application", 0.06), ("other", 0.06)],
    "account_wall": [("checkout", 0.55), ("lead", 0.15), ("application", 0.15), ("survey", 0.15)],
    "trust_concern": [("checkout", 0.4), ("application", 0.3), ("signup", 0.1), ("lead", 0.15), ("survey", 0.05)],
    "form_friction": [("checkout", 0.3), ("signup", 0.25), ("application", 0.2), ("lead", 0.1), ("survey", 0.15)],
    "technical_error": [("checkout", 0.5), ("signup", 0.15), ("application", 0.15), ("lead", 0.1),
                        ("survey", 0.1)],
    "distraction": [("checkout", 0.3), ("signup", 0.15), ("lead", 0.2), ("application", 0.15), ("survey", 0.15),
                    ("other", 0.05)],
}


def _secondary_signal(rng: random.Random, form: SimForm, label: str) -> tuple[list[dict[str, Any]], int, str]:
    """A mild signal of *another* class, for hard cases: (events relative to 0, duration, what it was)."""
    text_fields = [f for f in form.fields if f.type not in _CHOICE_TYPES] or form.fields
    options = [c for c in NAMES if c != label]
    other = rng.choice(options)
    f = rng.choice(text_fields)
    t = rng.randint(300, 1500)
    if other == "form_friction":
        n = rng.randint(3, 12)
        evs = [{"t": 0, "type": "focus", "field": f.name}, {"t": t, "type": "input", "field": f.name, "len": n},
               {"t": t + 150, "type": "error", "field": f.name, "code": rng.choice(["invalid_format", "required"])},
               {"t": t + 2500, "type": "input", "field": f.name, "len": n + 1},
               {"t": t + 2700, "type": "blur", "field": f.name}]
        return evs, t + 3000, f"one validation error on {f.name} was corrected"
    if other == "distraction":
        gap = rng.randint(15_000, 90_000)
        return [{"t": 0, "type": "hidden"}, {"t": gap, "type": "visible"}], gap + t, \
            f"a {_secs(gap)} tab switch with a return"
    if other == "technical_error":
        ms = rng.randint(4000, 9000)
        return [{"t": 0, "type": "js_error", "code": rng.choice(["TypeError", "ResizeObserver"])}], t, \
            "a harmless script error" if rng.random() < 0.5 else f"a response time of {_secs(ms)} elsewhere"
    if other == "trust_concern":
        target = rng.choice(["privacy_policy", "security_info", "returns_policy"])
        return [{"t": 0, "type": "click", "target": target}], t + rng.randint(2000, 8000), f"a look at {target}"
    if other == "account_wall":
        target = rng.choice(["login", "sign_in_with_google"])
        return [{"t": 0, "type": "click", "target": target}], t + rng.randint(1000, 4000), f"a {target} click"
    target = rng.choice(["shipping_info", "order_summary", "delivery_options"])
    return [{"t": 0, "type": "click", "target": target}], t + rng.randint(1500, 6000), f"a look at {target}"


def _insert(events: list[dict[str, Any]], extra: list[dict[str, Any]], duration: int, rng: random.Random) -> None:
    """Insert events in the first 70 % of a session, shifting what follows by their duration."""
    k = rng.randint(1, max(1, int(len(events) * 0.7)))
    t0 = events[k - 1]["t"] + rng.randint(200, 1500)
    for ev in events[k:]:
        ev["t"] += duration + (t0 - events[k - 1]["t"])
    events[k:k] = [{**ev, "t": ev["t"] + t0} for ev in extra]


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


@dataclass
class SimExample:
    label: str
    trace: dict[str, Any]
    reasoning: str
    confidence: float
    hard: bool


class Simulator:
    """Seeded generator of labelled traces; ``Simulator(seed).generate(n)`` is reproducible."""

    def __init__(self, seed: int = 0, prior: dict[str, float] | None = None, hard_share: float = 0.25) -> None:
        if not 0.0 <= hard_share <= 1.0:
            raise ValueError("hard_share must be within [0, 1]")
        self.seed = seed
        self.prior = dict(prior or DEFAULT_PRIOR)
        self.hard_share = hard_share

    def one(self, index: int, label: str | None = None) -> SimExample:
        """The example at this index: depends only on (seed, index), so any slice can be regenerated."""
        rng = random.Random(f"{self.seed}:{index}")
        if label is None:
            label = rng.choices(list(NAMES), weights=[self.prior.get(n, 0.0) for n in NAMES])[0]
        hard = rng.random() < self.hard_share
        kind = _weighted(rng, _KINDS_FOR[label])
        device = rng.choices(["desktop", "mobile", "tablet"], weights=[0.5, 0.42, 0.08])[0]
        form = make_form(rng, kind, label)
        sess = Session(rng, form, device)
        currency = rng.choice(["EUR", "USD", "GBP", "EUR", "USD", "CHF", "SEK"])
        cart = round(rng.lognormvariate(3.8, 0.7), 2)
        sc = Scenario(label, hard, sess, cart, currency)
        sess.view(1)
        if form.kind == "checkout" and rng.random() < 0.5:  # a cart summary shown from the start
            sess.wait(50, 300)
            sess.add("price", kind="subtotal", amount=cart)
        reasoning, _ = SCENARIOS[label](sc)
        if hard and rng.random() < 0.6:  # a misleading secondary signal of another class
            extra, duration, what = _secondary_signal(rng, form, label)
            _insert(sess.events, extra, duration, rng)
            reasoning = reasoning.rstrip(".") + f"; {what} earlier is a secondary signal."
        context: dict[str, Any] = {"device": device}
        if rng.random() < 0.3:
            context["returning"] = rng.random() < 0.5
        if form.has_prices:
            context["cart_value"] = cart
            context["currency"] = currency
        if rng.random() < 0.3:
            context["locale"] = rng.choice(["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "nl-NL", "sv-SE"])
        trace = {"schema": "formwhy.trace/v1", "session_id": f"sim-{self.seed}-{index}", "form": form.to_json(),
                 "context": context, "events": sess.events}
        base = rng.uniform(0.55, 0.75) if hard else rng.uniform(0.78, 0.97)
        confidence = round(min(0.99, base) * 20) / 20
        return SimExample(label, trace, reasoning, confidence, hard)

    def generate(self, n: int, start: int = 0) -> Iterator[SimExample]:
        for i in range(start, start + n):
            yield self.one(i)
