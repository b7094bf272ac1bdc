"""Hand-made features of a trace for the gradient-boosting backend (``formwhy.backends.features``).

:func:`extract` turns a batch of :class:`~formwhy.trace.Trace` into a float matrix whose columns are
:data:`FEATURE_NAMES`; :func:`extract_dict` gives one trace's features by name. Fields are matched by their declared
``type`` (``password``, ``coupon``, ``card_number``, ...) and the ``sensitive`` flag, never by their name, so that
``email`` / ``e_mail`` / ``courriel`` are all the same to the model. A field named in an event but not declared in
``form.fields`` counts as type ``other``, not sensitive. Click targets are free names, so they are matched by the
words they are made of (``sign_in_with_google`` -> ``sign`` ``in`` ``with`` ``google`` -> account).

Times are in seconds. ``NaN`` means "does not apply" (no price shown, no error, ...); scikit-learn's
``HistGradientBoostingClassifier`` learns where missing values go. "Exit" is the time of the last event (the
``exit`` event when the trace has one; a few traces end in ``hidden``). "Dwell" is the visible time from a ``focus``
to the ``blur`` of that field, the ``focus`` of another field, a ``click``, ``submit`` or ``view``, or the exit,
whichever comes first; time spent with the page hidden is not counted.

Every feature (the order below is the column order):

=============================  =========================================================================================
feature                        meaning
=============================  =========================================================================================
n_events                       number of events
log_duration_s                 log(1 + total duration in s)
n_input                        ``input`` events
n_paste                        ``paste`` events
n_autofill                     ``autofill`` events
n_change                       ``change`` events (select, checkbox, radio)
chars_typed                    sum of the length increases of ``input`` events
n_fields_touched               distinct fields with a focus, input, paste, autofill or change
n_refocus                      focus on a field that had been focused before
dwell_max_s                    longest dwell on one field
dwell_mean_s                   mean dwell (NaN without a dwell)
dwell_no_input_max_s           longest dwell with no input, paste or autofill during it
dwell_trend                    mean dwell of the later half of the typed fields / the earlier half (NaN if < 4)
sens_fields                    declared sensitive fields
sens_focused                   distinct sensitive fields focused
sens_dwell_max_s               longest dwell on a sensitive field
sens_dwell_low_input_max_s     longest dwell on a sensitive field that ended with < 3 characters in it
sens_focus_no_input            dwells on sensitive fields with no input, paste or autofill during them
n_len_decrease                 inputs whose length is below the field's previous length (corrections)
n_len_to_zero                  inputs that bring a non-empty field back to length 0
n_len_to_zero_sensitive        the same on sensitive fields
n_len_to_zero_card             the same on card fields (card_number, card_expiry, card_cvc)
n_error                        ``error`` events
err_required                   errors with code ``required``
err_invalid_format             errors with code ``invalid_format``
err_too_short                  errors with code ``too_short``
err_too_long                   errors with code ``too_long``
err_mismatch                   errors with code ``mismatch``
err_taken                      errors with code ``taken``
err_declined                   errors with code ``declined``
err_other                      errors with code ``other``
n_error_form                   errors that are neither on a coupon field nor code ``declined`` (validation errors)
n_error_fields                 distinct fields with a validation error (coupon fields and ``declined`` excluded)
max_errors_one_field           most validation errors on one field
n_error_unfielded              errors with no field
errors_showing_at_exit         validation errors on fields with no later input, paste, autofill or change on them
                               (an unfielded one: no later input at all)
s_last_error_to_exit           time from the last validation error to the exit (NaN: none)
n_submit                       ``submit`` events
max_submits_one_step           most submits of one step
n_rage_submits                 submits within 3 s of the previous submit
n_submit_no_response           submits with no ``response`` before the next submit or the exit
n_response                     ``response`` events
n_response_fail                responses with ``ok: false``
max_response_s                 the longest response ``ms``, in s (0 without one)
n_slow_response                responses that took >= 10 s
n_js_error                     ``js_error`` events
n_declined                     ``declined`` errors plus responses with status 402
s_last_failure_to_exit         time from the last failed response, js_error or declined to the exit (NaN: none)
s_last_submit_to_exit          time from the last submit to the exit (NaN: none)
n_price                        ``price`` events
price_subtotal                 price events of kind ``subtotal``
price_shipping                 ... ``shipping``
price_tax                      ... ``tax``
price_fee                      ... ``fee``
price_discount                 ... ``discount``
price_total                    ... ``total``
s_last_price_to_exit           time from the last price event to the exit (NaN: no price)
price_in_last_30s              1 when a price was shown in the last 30 s before the exit
price_first_frac               time of the first price / total duration (NaN: no price)
total_subtotal_ratio           last total / last subtotal (else / context cart_value; NaN: not known)
extra_cost_ratio               (last shipping + tax + fee) / (last subtotal or cart_value) (NaN: not known)
inputs_after_last_price        input, paste, autofill, change on non-coupon fields after the last price
events_after_last_price        events after the last price (NaN: no price)
coupon_fields                  declared coupon fields
coupon_inputs                  input and paste events on coupon fields
n_apply_coupon                 clicks on a coupon / promo / voucher / discount target
n_coupon_errors                errors on coupon fields
n_hidden                       ``hidden`` events
hidden_total_s                 total time hidden
hidden_longest_s               longest hidden period
hidden_share                   hidden time / total duration
hidden_at_exit                 1 when the page was hidden at the end (no ``visible`` after the last ``hidden``)
n_returns                      ``visible`` events after a ``hidden``
s_last_return_to_exit          time from the last return (``visible``) to the exit (NaN: no return)
idle_longest_s                 longest gap between two events while the page was visible (a gap that ends in a
                               ``response`` is a wait for the server, not idling, and is left out)
s_last_event_to_exit           time from the event before the exit to the exit (NaN: the trace does not end in
                               ``exit``)
n_click                        ``click`` events
click_account                  clicks on login / forgot_password / guest_checkout / sign-in / register targets
click_trust                    clicks on privacy_policy / security_info / returns_policy / terms / why_we_ask
click_friction                 clicks on help / back / format hints / show_password
click_price                    clicks on shipping_info / delivery_options / order_summary / cost details
click_support                  clicks on contact / support / chat targets
click_other                    clicks on anything else (coupon clicks excluded)
pw_fields                      declared password fields
pw_focused                     1 when a password field was focused
pw_typed_max_len               longest length typed into a password field
pw_cleared                     password inputs back to length 0
pw_dwell_no_input_max_s        longest dwell on a password field with no input
pw_step_viewed                 1 when a ``view`` of the step holding the password fields happened
pw_step_last_view              1 when the last ``view`` was of the password step
s_last_pw_focus_to_exit        time from the last focus on a password field to the exit (NaN: none)
n_steps                        ``form.steps``
max_step_frac                  highest step viewed / steps
last_step_frac                 the step of the last ``view`` / steps
n_back_views                   views of a lower step than the previous view
required_filled_share          share of required fields with a value (length > 0, autofill or change); NaN: none
fields_filled_share            share of all declared fields with a value
last_ev_view                   one-hot of the type of the last event before the exit: ``view``
last_ev_focus                  ... ``focus``
last_ev_blur                   ... ``blur``
last_ev_input                  ... ``input``, ``paste``, ``autofill`` or ``change``
last_ev_error                  ... ``error``
last_ev_click                  ... ``click``
last_ev_price                  ... ``price``
last_ev_submit                 ... ``submit``
last_ev_response               ... ``response``
last_ev_js_error               ... ``js_error``
last_ev_hidden                 ... ``hidden``
last_ev_visible                ... ``visible``
device_desktop                 one-hot of ``context.device`` (all 0 when absent)
device_mobile                  ...
device_tablet                  ...
kind_checkout                  one-hot of ``form.kind``
kind_signup                    ...
kind_lead                      ...
kind_application               ...
kind_survey                    ...
kind_other                     ...
=============================  =========================================================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from formwhy.trace import DEVICES, ERROR_CODES, FORM_KINDS, PRICE_KINDS, Trace

NAN = float("nan")
RAGE_SUBMIT_MS = 3000
SLOW_RESPONSE_MS = 10_000
RECENT_PRICE_MS = 30_000
LOW_INPUT_LEN = 3

CARD_TYPES = frozenset({"card_number", "card_expiry", "card_cvc"})
_LAST_EV_GROUPS = {
    "view": "view", "focus": "focus", "blur": "blur", "input": "input", "paste": "input", "autofill": "input",
    "change": "input", "error": "error", "click": "click", "price": "price", "submit": "submit",
    "response": "response", "js_error": "js_error", "hidden": "hidden", "visible": "visible",
}
_LAST_EV_NAMES = ("view", "focus", "blur", "input", "error", "click", "price", "submit", "response", "js_error",
                  "hidden", "visible")

FEATURE_NAMES: tuple[str, ...] = (
    "n_events", "log_duration_s", "n_input", "n_paste", "n_autofill", "n_change", "chars_typed",
    "n_fields_touched", "n_refocus",
    "dwell_max_s", "dwell_mean_s", "dwell_no_input_max_s", "dwell_trend",
    "sens_fields", "sens_focused", "sens_dwell_max_s", "sens_dwell_low_input_max_s", "sens_focus_no_input",
    "n_len_decrease", "n_len_to_zero", "n_len_to_zero_sensitive", "n_len_to_zero_card",
    "n_error", *(f"err_{c}" for c in ERROR_CODES),
    "n_error_form", "n_error_fields", "max_errors_one_field", "n_error_unfielded", "errors_showing_at_exit",
    "s_last_error_to_exit",
    "n_submit", "max_submits_one_step", "n_rage_submits", "n_submit_no_response", "n_response", "n_response_fail",
    "max_response_s", "n_slow_response", "n_js_error", "n_declined", "s_last_failure_to_exit",
    "s_last_submit_to_exit",
    "n_price", *(f"price_{k}" for k in PRICE_KINDS), "s_last_price_to_exit", "price_in_last_30s",
    "price_first_frac", "total_subtotal_ratio", "extra_cost_ratio", "inputs_after_last_price",
    "events_after_last_price",
    "coupon_fields", "coupon_inputs", "n_apply_coupon", "n_coupon_errors",
    "n_hidden", "hidden_total_s", "hidden_longest_s", "hidden_share", "hidden_at_exit", "n_returns",
    "s_last_return_to_exit", "idle_longest_s", "s_last_event_to_exit",
    "n_click", "click_account", "click_trust", "click_friction", "click_price", "click_support", "click_other",
    "pw_fields", "pw_focused", "pw_typed_max_len", "pw_cleared", "pw_dwell_no_input_max_s", "pw_step_viewed",
    "pw_step_last_view", "s_last_pw_focus_to_exit",
    "n_steps", "max_step_frac", "last_step_frac", "n_back_views", "required_filled_share", "fields_filled_share",
    *(f"last_ev_{k}" for k in _LAST_EV_NAMES),
    *(f"device_{d}" for d in DEVICES),
    *(f"kind_{k}" for k in FORM_KINDS),
)
N_FEATURES = len(FEATURE_NAMES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

# --- click targets ------------------------------------------------------------------------------------------

_COUPON_WORDS = frozenset({"coupon", "promo", "promocode", "voucher", "discount", "redeem", "gift", "giftcard",
                           "code"})
_PRICE_WORDS = frozenset({"shipping", "delivery", "fee", "fees", "tax", "taxes", "cost", "costs", "pricing",
                          "price", "prices", "summary", "total", "postage", "breakdown", "charges"})
_TRUST_WORDS = frozenset({"privacy", "security", "secure", "returns", "return", "refund", "refunds", "terms", "tos",
                          "trust", "ssl", "gdpr", "legal", "guarantee", "policy", "verified", "badge", "why",
                          "conditions", "cookies", "data", "protection", "safe", "safety", "reviews", "imprint"})
_ACCOUNT_WORDS = frozenset({"login", "logon", "signin", "forgot", "guest", "register", "registration", "account",
                            "sso", "google", "facebook", "apple", "passwordless", "magic", "social", "oauth",
                            "signup", "member", "continue_as_guest"})
_FRICTION_WORDS = frozenset({"help", "back", "hint", "format", "faq", "tooltip", "example", "show", "previous",
                             "prev", "edit", "clear", "reset", "instructions", "info_icon", "requirements"})
_SUPPORT_WORDS = frozenset({"contact", "support", "chat", "call", "phone_us", "livechat", "callback"})

_SPLIT_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[_\-.\[\]\s]+")


def _words(target: str) -> list[str]:
    return [w for w in _SPLIT.split(_SPLIT_CAMEL.sub("_", target).lower()) if w]


def click_category(target: str) -> str:
    """``coupon``, ``price``, ``trust``, ``account``, ``friction``, ``support`` or ``other`` for a click target."""
    words = _words(target)
    ws = set(words)
    joined = "_".join(words)
    if ws & {"coupon", "promo", "promocode", "voucher", "redeem"} or (
            ws & _COUPON_WORDS and ws & {"apply", "enter", "add", "use"}):
        return "coupon"
    if ws & _PRICE_WORDS:
        return "price"
    if ws & _TRUST_WORDS and not ("why" in ws and ws & {"account", "register"}):
        return "trust"
    if (ws & _ACCOUNT_WORDS or "sign_in" in joined or "log_in" in joined or "sign_up" in joined
            or "create_account" in joined or ("password" in ws and ws & {"forgot", "reset", "lost"})):
        return "account"
    if ws & _FRICTION_WORDS:
        return "friction"
    if ws & _SUPPORT_WORDS:
        return "support"
    return "other"


# --- extraction -------------------------------------------------------------------------------------------


def _s(ms: float) -> float:
    return ms / 1000.0


def extract_dict(trace: Trace) -> dict[str, float]:
    """The features of one trace, by name (see the module docstring)."""
    form = trace.form
    fmap = {f.name: f for f in form.fields}
    ftype = {f.name: f.type for f in form.fields}
    sensitive = {f.name for f in form.fields if f.sensitive}
    coupon = {f.name for f in form.fields if f.type == "coupon"}
    password = {f.name for f in form.fields if f.type == "password"}
    pw_steps = {fmap[n].step for n in password}
    events = trace.events
    n_ev = len(events)
    t_end = events[-1].t
    has_exit = events[-1].type == "exit"
    d: dict[str, float] = dict.fromkeys(FEATURE_NAMES, 0.0)

    d["n_events"] = n_ev
    d["log_duration_s"] = math.log1p(_s(t_end))

    # running state
    lens: dict[str, int] = {}
    filled: set[str] = set()
    touched: set[str] = set()
    focused_before: set[str] = set()
    open_field: str | None = None
    open_since = 0
    open_acc = 0
    open_inputs = 0
    dwells: list[tuple[str, int, int, int]] = []  # field, visible ms, inputs during the dwell, len at the end
    hidden = False
    hidden_since = 0
    hidden_periods: list[int] = []
    last_visible_t: int | None = None
    prev_t: int | None = None
    idle_longest = 0
    last_input_t: dict[str, int] = {}
    last_any_input_t = -1
    errors: list[tuple[int, str | None, str]] = []  # t, field, code
    err_per_field: dict[str, int] = {}
    submits: list[tuple[int, int]] = []  # t, step
    submit_answered: list[bool] = []
    last_failure_t: int | None = None
    max_resp = 0
    last_price_t: int | None = None
    first_price_t: int | None = None
    last_price_idx = -1
    last_amount: dict[str, float] = {}
    views: list[int] = []
    last_pw_focus_t: int | None = None
    pw_typed = 0
    last_ev_group: str | None = None

    def close_dwell(t: int) -> None:
        nonlocal open_field, open_acc
        if open_field is None:
            return
        visible_ms = open_acc + (0 if hidden else t - open_since)
        dwells.append((open_field, visible_ms, open_inputs, lens.get(open_field, 0)))
        open_field = None
        open_acc = 0

    for i, ev in enumerate(events):
        t = ev.t
        kind = ev.type
        if prev_t is not None and not hidden and kind != "response":  # waiting for the server is not idling
            idle_longest = max(idle_longest, t - prev_t)
        prev_t = t
        if kind != "exit":
            last_ev_group = _LAST_EV_GROUPS.get(kind)
        if open_field is not None and (kind == "submit" or kind == "click" or kind == "view"):
            close_dwell(t)  # pressing a button or a link, or a new step, takes the focus away
        if kind == "focus":
            f = ev.field
            close_dwell(t)
            if f in focused_before:
                d["n_refocus"] += 1
            focused_before.add(f)
            touched.add(f)
            open_field, open_since, open_acc, open_inputs = f, t, 0, 0
            if f in password:
                d["pw_focused"] = 1.0
                last_pw_focus_t = t
        elif kind == "blur":
            if open_field == ev.field:
                close_dwell(t)
        elif kind == "input" or kind == "paste":
            f = ev.field
            new = ev.len
            old = lens.get(f, 0)
            touched.add(f)
            if kind == "input":
                d["n_input"] += 1
                if new > old:
                    d["chars_typed"] += new - old
                elif new < old:
                    d["n_len_decrease"] += 1
                    if new == 0:
                        d["n_len_to_zero"] += 1
                        if f in sensitive:
                            d["n_len_to_zero_sensitive"] += 1
                        if ftype.get(f) in CARD_TYPES:
                            d["n_len_to_zero_card"] += 1
                        if f in password:
                            d["pw_cleared"] += 1
            else:
                d["n_paste"] += 1
            lens[f] = new
            if new > 0:
                filled.add(f)
            else:
                filled.discard(f)
            if f in password:
                pw_typed = max(pw_typed, new)
            if f in coupon:
                d["coupon_inputs"] += 1
        elif kind == "autofill" or kind == "change":
            f = ev.field
            d["n_autofill" if kind == "autofill" else "n_change"] += 1
            touched.add(f)
            filled.add(f)
            if kind == "autofill":
                lens[f] = max(lens.get(f, 0), 10)
        elif kind == "error":
            f = ev.field
            code = ev.code
            d["n_error"] += 1
            d[f"err_{code}"] += 1
            if f is None:
                d["n_error_unfielded"] += 1
            if code == "declined":
                d["n_declined"] += 1
                last_failure_t = t
            elif f is not None and f in coupon:
                d["n_coupon_errors"] += 1
            else:
                errors.append((t, f, code))
                if f is not None:
                    err_per_field[f] = err_per_field.get(f, 0) + 1
        elif kind == "click":
            cat = click_category(ev.target)
            d["n_click"] += 1
            if cat == "coupon":
                d["n_apply_coupon"] += 1
            else:
                d[f"click_{cat}"] += 1
        elif kind == "price":
            d["n_price"] += 1
            d[f"price_{ev.kind}"] += 1
            last_amount[ev.kind] = ev.amount
            if first_price_t is None:
                first_price_t = t
            last_price_t = t
            last_price_idx = i
            d["inputs_after_last_price"] = 0.0
        elif kind == "submit":
            if submits and t - submits[-1][0] <= RAGE_SUBMIT_MS:
                d["n_rage_submits"] += 1
            submits.append((t, ev.step))
            submit_answered.append(False)
        elif kind == "response":
            d["n_response"] += 1
            if submit_answered:
                submit_answered[-1] = True
            if ev.ms is not None:
                max_resp = max(max_resp, ev.ms)
                if ev.ms >= SLOW_RESPONSE_MS:
                    d["n_slow_response"] += 1
            if not ev.ok:
                d["n_response_fail"] += 1
                last_failure_t = t
            if ev.status == 402:
                d["n_declined"] += 1
        elif kind == "js_error":
            d["n_js_error"] += 1
            last_failure_t = t
        elif kind == "view":
            if views and ev.step < views[-1]:
                d["n_back_views"] += 1
            views.append(ev.step)
        elif kind == "hidden":
            if not hidden:
                if open_field is not None:
                    open_acc += t - open_since
                hidden, hidden_since = True, t
                d["n_hidden"] += 1
        elif kind == "visible":
            if hidden:
                hidden_periods.append(t - hidden_since)
                hidden = False
                d["n_returns"] += 1
                last_visible_t = t
                if open_field is not None:
                    open_since = t
        if kind in ("input", "paste", "autofill", "change"):  # a value changed on field ev.field
            f = ev.field
            if open_field == f:
                open_inputs += 1
            last_input_t[f] = t
            last_any_input_t = t
            if last_price_t is not None and f not in coupon:
                d["inputs_after_last_price"] += 1
    # the end of the trace
    if hidden:
        hidden_periods.append(t_end - hidden_since)
        d["hidden_at_exit"] = 1.0
    close_dwell(t_end)

    # dwell
    if dwells:
        secs = [_s(ms) for _, ms, _, _ in dwells]
        d["dwell_max_s"] = max(secs)
        d["dwell_mean_s"] = sum(secs) / len(secs)
        d["dwell_no_input_max_s"] = max((_s(ms) for _, ms, k, _ in dwells if k == 0), default=0.0)
        typed = [_s(ms) for f, ms, k, _ in dwells if k > 0]
        if len(typed) >= 4:
            half = len(typed) // 2
            early = sum(typed[:half]) / half
            late = sum(typed[half:]) / (len(typed) - half)
            d["dwell_trend"] = late / early if early > 0 else NAN
        else:
            d["dwell_trend"] = NAN
        sens = [(ms, k, end_len) for f, ms, k, end_len in dwells if f in sensitive]
        d["sens_dwell_max_s"] = max((_s(ms) for ms, _, _ in sens), default=0.0)
        d["sens_dwell_low_input_max_s"] = max((_s(ms) for ms, _, e in sens if e < LOW_INPUT_LEN), default=0.0)
        d["sens_focus_no_input"] = sum(1 for _, k, _ in sens if k == 0)
        d["pw_dwell_no_input_max_s"] = max((_s(ms) for f, ms, k, _ in dwells if f in password and k == 0),
                                           default=0.0)
    else:
        d["dwell_mean_s"] = NAN
        d["dwell_trend"] = NAN
    d["n_fields_touched"] = len(touched)
    d["sens_fields"] = len(sensitive)
    d["sens_focused"] = len(sensitive & focused_before)

    # errors
    d["n_error_form"] = len(errors)
    d["n_error_fields"] = len(err_per_field)
    d["max_errors_one_field"] = max(err_per_field.values(), default=0)
    showing_fields: set[str] = set()
    showing_unfielded = 0
    for t, f, _code in errors:
        if f is None:
            if last_any_input_t <= t:
                showing_unfielded += 1
        elif last_input_t.get(f, -1) <= t:
            showing_fields.add(f)
    d["errors_showing_at_exit"] = len(showing_fields) + showing_unfielded
    d["s_last_error_to_exit"] = _s(t_end - errors[-1][0]) if errors else NAN

    # submits and failures
    d["n_submit"] = len(submits)
    if submits:
        per_step: dict[int, int] = {}
        for _, step in submits:
            per_step[step] = per_step.get(step, 0) + 1
        d["max_submits_one_step"] = max(per_step.values())
        d["n_submit_no_response"] = sum(1 for answered in submit_answered if not answered)
        d["s_last_submit_to_exit"] = _s(t_end - submits[-1][0])
    else:
        d["s_last_submit_to_exit"] = NAN
    d["max_response_s"] = _s(max_resp)
    d["s_last_failure_to_exit"] = _s(t_end - last_failure_t) if last_failure_t is not None else NAN

    # prices
    ctx = trace.context
    cart = ctx.cart_value if ctx is not None and ctx.cart_value else None
    if last_price_t is not None:
        d["s_last_price_to_exit"] = _s(t_end - last_price_t)
        d["price_in_last_30s"] = 1.0 if t_end - last_price_t <= RECENT_PRICE_MS else 0.0
        d["price_first_frac"] = first_price_t / t_end if t_end > 0 else 1.0  # type: ignore[operator]
        d["events_after_last_price"] = n_ev - 1 - last_price_idx
    else:
        d["s_last_price_to_exit"] = NAN
        d["price_first_frac"] = NAN
        d["events_after_last_price"] = NAN
        d["inputs_after_last_price"] = NAN
    base = last_amount.get("subtotal") or cart
    total = last_amount.get("total")
    d["total_subtotal_ratio"] = total / base if base and total is not None else NAN
    extra = sum(last_amount.get(k, 0.0) for k in ("shipping", "tax", "fee"))
    has_extra = any(k in last_amount for k in ("shipping", "tax", "fee"))
    d["extra_cost_ratio"] = extra / base if base and has_extra else NAN
    d["coupon_fields"] = len(coupon)

    # visibility and idle
    if hidden_periods:
        d["hidden_total_s"] = _s(sum(hidden_periods))
        d["hidden_longest_s"] = _s(max(hidden_periods))
        d["hidden_share"] = sum(hidden_periods) / t_end if t_end > 0 else 0.0
    d["s_last_return_to_exit"] = _s(t_end - last_visible_t) if last_visible_t is not None else NAN
    d["idle_longest_s"] = _s(idle_longest)
    d["s_last_event_to_exit"] = _s(t_end - events[-2].t) if has_exit and n_ev > 1 else NAN

    # passwords
    d["pw_fields"] = len(password)
    d["pw_typed_max_len"] = pw_typed
    if pw_steps:
        d["pw_step_viewed"] = 1.0 if any(v in pw_steps for v in views) else 0.0
        d["pw_step_last_view"] = 1.0 if views and views[-1] in pw_steps else 0.0
    d["s_last_pw_focus_to_exit"] = _s(t_end - last_pw_focus_t) if last_pw_focus_t is not None else NAN

    # progress
    steps = form.steps
    d["n_steps"] = steps
    d["max_step_frac"] = (max(views) if views else 1) / steps
    d["last_step_frac"] = (views[-1] if views else 1) / steps
    required = [f.name for f in form.fields if f.required]
    d["required_filled_share"] = (sum(1 for n in required if n in filled) / len(required)) if required else NAN
    d["fields_filled_share"] = sum(1 for f in form.fields if f.name in filled) / len(form.fields)

    if last_ev_group is not None:
        d[f"last_ev_{last_ev_group}"] = 1.0
    if ctx is not None and ctx.device:
        d[f"device_{ctx.device}"] = 1.0
    d[f"kind_{form.kind}"] = 1.0
    return d


def extract_row(trace: Trace) -> np.ndarray:
    """One trace's feature vector in :data:`FEATURE_NAMES` order."""
    d = extract_dict(trace)
    return np.fromiter((d[n] for n in FEATURE_NAMES), dtype=np.float64, count=N_FEATURES)


def extract(traces: Sequence[Trace]) -> np.ndarray:
    """Feature matrix ``(len(traces), N_FEATURES)`` (float64, NaN where a feature does not apply)."""
    out = np.empty((len(traces), N_FEATURES), dtype=np.float64)
    for i, trace in enumerate(traces):
        out[i] = extract_row(trace)
    return out
