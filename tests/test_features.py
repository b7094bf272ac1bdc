"""Trace features (formwhy.features) on the spec examples and on hand-built traces."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import formwhy.features as F
from formwhy.features import FEATURE_NAMES, N_FEATURES, click_category, extract, extract_dict
from formwhy.trace import Trace, example_traces, parse_trace


@pytest.fixture(scope="module")
def spec() -> dict[str, dict[str, float]]:
    return {name: extract_dict(tr) for name, tr in example_traces().items()}


def _trace(events: list[dict[str, Any]], fields: list[dict[str, Any]] | None = None, steps: int = 1,
           kind: str = "checkout", context: dict[str, Any] | None = None) -> Trace:
    doc: dict[str, Any] = {
        "schema": "formwhy.trace/v1",
        "form": {"id": "f", "kind": kind, "steps": steps, "fields": fields or [
            {"name": "email", "type": "email", "required": True},
            {"name": "card", "type": "card_number", "required": True, "sensitive": True},
        ]},
        "events": events,
    }
    if context is not None:
        doc["context"] = context
    return parse_trace(doc)


def test_names_unique_documented_and_shape() -> None:
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    table = F.__doc__ or ""
    for name in FEATURE_NAMES:
        assert f"\n{name} " in table, f"{name} is not in the module docstring table"
    traces = list(example_traces().values())
    X = extract(traces)
    assert X.shape == (6, N_FEATURES) and X.dtype == np.float64
    assert not np.any(np.isinf(X))
    assert extract([]).shape == (0, N_FEATURES)


def test_technical_error_example(spec: dict[str, dict[str, float]]) -> None:
    d = spec["technical_error"]
    assert d["max_submits_one_step"] == 4  # four submits of the payment step
    assert d["n_submit"] == 5  # plus the step-1 submit
    assert d["n_response_fail"] == 1
    assert d["max_response_s"] == 30.0
    assert d["n_slow_response"] == 1
    assert d["n_js_error"] == 1
    assert d["n_rage_submits"] == 2  # 39300 and 39500 follow within 3 s; 38500 came 30.6 s after 7900
    assert d["n_submit_no_response"] == 3
    assert d["s_last_failure_to_exit"] == pytest.approx(4.9)
    assert d["n_error"] == 0 and d["n_declined"] == 0


def test_trust_example(spec: dict[str, dict[str, float]]) -> None:
    d = spec["trust_concern"]
    assert d["n_len_to_zero_sensitive"] == 1  # ssn typed 3 then 0
    assert d["n_len_to_zero"] == 1 and d["n_len_decrease"] == 1
    assert d["click_trust"] == 1  # privacy_policy
    assert d["sens_dwell_low_input_max_s"] == pytest.approx(14.3)  # focus ssn 7200 -> blur 21500
    assert d["sens_dwell_max_s"] == pytest.approx(14.3)
    assert d["sens_fields"] == 3 and d["sens_focused"] == 2
    assert d["n_error"] == 0 and d["n_hidden"] == 0
    assert d["s_last_event_to_exit"] == pytest.approx(25.6)


def test_price_shock_example(spec: dict[str, dict[str, float]]) -> None:
    d = spec["price_shock"]
    assert d["n_apply_coupon"] == 2 and d["n_coupon_errors"] == 2
    assert d["n_error_form"] == 0 and d["errors_showing_at_exit"] == 0  # coupon errors are not form errors
    assert d["price_shipping"] == 1 and d["price_total"] == 1 and d["n_price"] == 2
    assert d["total_subtotal_ratio"] == pytest.approx(63.8 / 48.9)  # no subtotal event: context cart_value
    assert d["extra_cost_ratio"] == pytest.approx(14.9 / 48.9)
    assert d["s_last_price_to_exit"] == pytest.approx((58000 - 3610) / 1000)
    assert d["price_in_last_30s"] == 0
    assert d["hidden_total_s"] == pytest.approx(42.6) and d["n_returns"] == 1 and d["hidden_at_exit"] == 0
    assert d["s_last_return_to_exit"] == pytest.approx(6.0)
    assert d["coupon_fields"] == 1 and d["coupon_inputs"] == 3
    assert d["n_autofill"] == 4 and d["n_paste"] == 1


def test_account_wall_example(spec: dict[str, dict[str, float]]) -> None:
    d = spec["account_wall"]
    assert d["click_account"] == 2  # login, forgot_password
    assert d["pw_fields"] == 1 and d["pw_focused"] == 1 and d["pw_typed_max_len"] == 0
    assert d["pw_dwell_no_input_max_s"] == pytest.approx(3.5)
    assert d["s_last_pw_focus_to_exit"] == pytest.approx(11.6)
    assert d["n_error"] == 0


def test_form_friction_example(spec: dict[str, dict[str, float]]) -> None:
    d = spec["form_friction"]
    assert d["n_error_form"] == 4 and d["n_error_fields"] == 2 and d["max_errors_one_field"] == 3
    assert (d["err_too_short"], d["err_invalid_format"], d["err_mismatch"]) == (1, 2, 1)
    assert d["errors_showing_at_exit"] == 1  # the last password error has no later input
    assert d["s_last_error_to_exit"] == pytest.approx(3.9)
    assert d["n_refocus"] == 3
    assert d["pw_step_viewed"] == 1 and d["pw_typed_max_len"] == 12


def test_distraction_example(spec: dict[str, dict[str, float]]) -> None:
    d = spec["distraction"]
    assert d["hidden_at_exit"] == 1 and d["n_hidden"] == 2 and d["n_returns"] == 1
    assert d["hidden_longest_s"] == pytest.approx(1253.6)
    assert d["hidden_total_s"] == pytest.approx(1253.6 + 537.0)
    assert d["s_last_event_to_exit"] == pytest.approx(537.0)
    assert d["idle_longest_s"] == pytest.approx(4.0)  # hidden gaps are not idle gaps
    assert d["dwell_max_s"] < 5  # the focused work_email's hidden half hour is not dwell
    assert d["kind_lead"] == 1 and d["device_desktop"] == 1 and d["device_mobile"] == 0


def test_fields_matched_by_type_not_name() -> None:
    ex = example_traces()["trust_concern"].to_dict()
    renamed = {f["name"]: f"x{i}" for i, f in enumerate(ex["form"]["fields"])}
    for f in ex["form"]["fields"]:
        f["name"] = renamed[f["name"]]
    for ev in ex["events"]:
        if "field" in ev:
            ev["field"] = renamed[ev["field"]]
    a = extract([example_traces()["trust_concern"]])
    b = extract([parse_trace(ex)])
    np.testing.assert_array_equal(np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1))


def test_sensitive_flag_and_undeclared_field() -> None:
    events = [{"t": 0, "type": "view", "step": 1}, {"t": 100, "type": "focus", "field": "card"},
              {"t": 9100, "type": "blur", "field": "card"}, {"t": 9200, "type": "focus", "field": "ghost"},
              {"t": 9300, "type": "input", "field": "ghost", "len": 2},
              {"t": 9400, "type": "input", "field": "ghost", "len": 0}, {"t": 12000, "type": "exit"}]
    d = extract_dict(_trace(events))
    assert d["sens_dwell_low_input_max_s"] == pytest.approx(9.0) and d["sens_focus_no_input"] == 1
    assert d["n_len_to_zero"] == 1 and d["n_len_to_zero_sensitive"] == 0  # undeclared: not sensitive
    fields = [{"name": "email", "type": "email"}, {"name": "card", "type": "card_number"}]  # not flagged
    d = extract_dict(_trace(events, fields))
    assert d["sens_fields"] == 0 and d["sens_dwell_max_s"] == 0


def test_rage_submits_and_declined() -> None:
    events = [{"t": 0, "type": "view", "step": 1}, {"t": 1000, "type": "submit", "step": 1},
              {"t": 1500, "type": "response", "ok": False, "status": 402, "ms": 500},
              {"t": 1600, "type": "error", "field": "card", "code": "declined"},
              {"t": 4000, "type": "submit", "step": 1}, {"t": 4500, "type": "submit", "step": 1},
              {"t": 9000, "type": "submit", "step": 1}, {"t": 12000, "type": "exit"}]
    d = extract_dict(_trace(events))
    assert d["n_rage_submits"] == 2  # 4000 (3.0 s after 1000) and 4500; 9000 is 4.5 s later
    assert d["n_declined"] == 2 and d["err_declined"] == 1
    assert d["n_error_form"] == 0 and d["errors_showing_at_exit"] == 0  # declined is not a validation error
    assert d["n_submit_no_response"] == 3 and d["max_submits_one_step"] == 4


def test_idle_leaves_out_server_waits_and_trace_ending_hidden() -> None:
    events = [{"t": 0, "type": "view", "step": 1}, {"t": 1000, "type": "submit", "step": 1},
              {"t": 61000, "type": "response", "ok": False, "status": 504, "ms": 60000},
              {"t": 63000, "type": "hidden"}]
    d = extract_dict(_trace(events))
    assert d["idle_longest_s"] == pytest.approx(2.0)
    assert d["hidden_at_exit"] == 1 and math.isnan(d["s_last_event_to_exit"])
    assert d["last_ev_hidden"] == 1 and sum(d[n] for n in FEATURE_NAMES if n.startswith("last_ev_")) == 1


def test_errors_showing_and_prices() -> None:
    events = [{"t": 0, "type": "view", "step": 1},
              {"t": 100, "type": "price", "kind": "subtotal", "amount": 40},
              {"t": 110, "type": "price", "kind": "shipping", "amount": 8},
              {"t": 120, "type": "price", "kind": "total", "amount": 48},
              {"t": 1000, "type": "input", "field": "email", "len": 5},
              {"t": 1100, "type": "error", "field": "email", "code": "invalid_format"},
              {"t": 2000, "type": "input", "field": "email", "len": 9},
              {"t": 2100, "type": "error", "field": "card", "code": "required"},
              {"t": 2200, "type": "error", "code": "other"},
              {"t": 22000, "type": "exit"}]
    d = extract_dict(_trace(events))
    assert d["errors_showing_at_exit"] == 2  # card (no later input) and the unfielded one; email was fixed
    assert d["n_error_unfielded"] == 1 and d["n_error_fields"] == 2
    assert d["total_subtotal_ratio"] == pytest.approx(1.2) and d["extra_cost_ratio"] == pytest.approx(0.2)
    assert d["price_in_last_30s"] == 1 and d["inputs_after_last_price"] == 2 and d["events_after_last_price"] == 6
    assert d["required_filled_share"] == pytest.approx(0.5)  # email filled, card not
    assert d["s_last_error_to_exit"] == pytest.approx(19.8)
    no_price = extract_dict(_trace([{"t": 0, "type": "view", "step": 1}, {"t": 10, "type": "exit"}]))
    assert math.isnan(no_price["s_last_price_to_exit"]) and math.isnan(no_price["total_subtotal_ratio"])


def test_progress_and_password_step() -> None:
    fields = [{"name": "e", "type": "email", "step": 1, "required": True},
              {"name": "pw", "type": "password", "step": 2, "required": True},
              {"name": "c", "type": "card_number", "step": 3, "required": True, "sensitive": True}]
    events = [{"t": 0, "type": "view", "step": 1}, {"t": 500, "type": "input", "field": "e", "len": 10},
              {"t": 1000, "type": "submit", "step": 1}, {"t": 1200, "type": "response", "ok": True, "ms": 200},
              {"t": 1300, "type": "view", "step": 2}, {"t": 2000, "type": "click", "target": "back"},
              {"t": 2100, "type": "view", "step": 1}, {"t": 3000, "type": "view", "step": 2},
              {"t": 9000, "type": "exit"}]
    d = extract_dict(_trace(events, fields, steps=3))
    assert d["max_step_frac"] == pytest.approx(2 / 3) and d["last_step_frac"] == pytest.approx(2 / 3)
    assert d["n_back_views"] == 1 and d["click_friction"] == 1
    assert d["pw_step_viewed"] == 1 and d["pw_step_last_view"] == 1 and d["pw_focused"] == 0
    assert d["required_filled_share"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(("target", "category"), [
    ("apply_coupon", "coupon"), ("applyPromoCode", "coupon"), ("redeem_voucher", "coupon"),
    ("login", "account"), ("forgot_password", "account"), ("guest_checkout", "account"),
    ("sign_in_with_google", "account"), ("signIn", "account"), ("create_account", "account"),
    ("privacy_policy", "trust"), ("security_info", "trust"), ("returns_policy", "trust"), ("terms", "trust"),
    ("why_we_ask", "trust"),
    ("help", "friction"), ("back", "friction"), ("format_hint", "friction"), ("show_password", "friction"),
    ("shipping_info", "price"), ("delivery_options", "price"), ("order_summary", "price"),
    ("contact_support", "support"), ("live_chat", "support"),
    ("banner", "other"), ("logo", "other"),
])
def test_click_categories(target: str, category: str) -> None:
    assert click_category(target) == category
