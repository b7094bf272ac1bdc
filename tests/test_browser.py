"""The capture snippet in a real headless Chromium against a real uvicorn server: the demo checkout is filled in
part, validation errors are triggered, the session is ended on purpose; the posted trace must validate, hold no
typed value, and the classification must come back and be shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is missing (make setup installs it: apt-get install -y chromium)",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[serve,dev]')")

from _live_server import live_server  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from formwhy.service import BackendConfig, ServiceConfig, create_app  # noqa: E402
from formwhy.trace import parse_trace  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SECRET = "ZZSECRET123"
KEY = "browser-test-key"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(features_model_dir):
    cfg = ServiceConfig(api_key=KEY, backends=[BackendConfig(name="features", model=str(features_model_dir))])
    with live_server(create_app(cfg)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def _capture(page, path: str) -> list[dict]:
    posted: list[dict] = []

    def on_request(req) -> None:  # noqa: ANN001
        if req.method == "POST" and path in req.url:
            posted.append({"url": req.url, "body": req.post_data or "", "headers": req.headers})

    page.on("request", on_request)
    return posted


def test_demo_end_session(server, browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    posted = _capture(page, "/v1/classify")
    page.goto(server + "/demo")
    page.wait_for_function("window.FormWhy && window.formwhyDemo")

    # step 1, badly: an email without @, a name, a phone with letters; address left empty -> errors
    page.locator("#email").press_sequentially(SECRET)
    page.locator("#full_name").press_sequentially(SECRET + " Person")
    page.locator("#phone").press_sequentially(SECRET)
    page.locator("#country").select_option("France")
    page.locator("#newsletter").check()
    page.click("#continue")
    page.wait_for_selector("#email[aria-invalid=true]")
    page.click("a[data-formwhy=privacy_policy]")

    # fix it and go on to step 2
    page.locator("#email").fill("")
    page.locator("#email").press_sequentially(SECRET.lower() + "@example.com")
    page.locator("#phone").fill("")
    page.locator("#phone").press_sequentially("+49 30 1234567")
    page.locator("#address").press_sequentially(SECRET + " Street 1")
    page.locator("#postal_code").fill("10115")  # a value set without key events: recorded as autofill
    page.click("#continue")
    page.wait_for_selector("#step2:not([hidden])")
    page.locator("#card_number").press_sequentially("4111")
    for _ in range(4):
        page.locator("#card_number").press("Backspace")
    page.locator("#coupon").press_sequentially(SECRET)
    page.click("#apply_coupon")
    page.click("#end-session")
    page.wait_for_selector("#result:not([hidden])", timeout=20_000)

    assert not errors, errors
    assert len(posted) == 1
    raw = posted[0]["body"]
    assert SECRET.lower() not in raw.lower(), "a typed value reached the request body"
    assert "example.com" not in raw and "Street" not in raw and "4111" not in raw and "1234567" not in raw
    assert KEY not in json.dumps(posted[0]["headers"]), "the API key reached the browser"
    trace = parse_trace(json.loads(raw))
    events = [e.model_dump(exclude_none=True) for e in trace.events]
    kinds = [e["type"] for e in events]
    fields = {f.name: f for f in trace.form.fields}

    assert trace.form.kind == "checkout" and trace.form.steps == 2
    assert fields["card_number"].type == "card_number" and fields["card_number"].sensitive
    assert fields["phone"].type == "tel" and fields["phone"].sensitive
    assert fields["email"].type == "email" and fields["email"].required and not fields["email"].sensitive
    assert fields["card_number"].step == 2 and fields["country"].type == "select"
    assert fields["postal_code"].type == "postal_code" and fields["coupon"].type == "coupon"

    assert events[0] == {"t": events[0]["t"], "type": "view", "step": 1}
    assert {"type": "view", "step": 2} in [{k: v for k, v in e.items() if k != "t"} for e in events]
    assert kinds[-1] == "exit"
    inputs = [e for e in events if e["type"] == "input" and e["field"] == "email"]
    assert [e["len"] for e in inputs[:3]] == [1, 2, 3] and inputs[len(SECRET) - 1]["len"] == len(SECRET)
    card = [e["len"] for e in events if e["type"] == "input" and e["field"] == "card_number"]
    assert card[:4] == [1, 2, 3, 4] and card[-1] == 0  # typed then deleted: lengths only
    errs = {(e.get("field"), e["code"]) for e in events if e["type"] == "error"}
    assert ("email", "invalid_format") in errs and ("address", "required") in errs
    assert ("phone", "invalid_format") in errs and ("coupon", "other") in errs
    clicks = [e["target"] for e in events if e["type"] == "click"]
    assert "privacy_policy" in clicks and "apply_coupon" in clicks
    assert {"type": "autofill", "field": "postal_code"} in [{k: v for k, v in e.items() if k != "t"}
                                                              for e in events]
    changes = {e["field"] for e in events if e["type"] == "change"}
    assert {"country", "newsletter"} <= changes
    prices = {(e["kind"], e["amount"]) for e in events if e["type"] == "price"}
    assert ("subtotal", 84.0) in prices and ("shipping", 12.9) in prices and ("total", 96.9) in prices
    assert [e["step"] for e in events if e["type"] == "submit"][:2] == [1, 1]
    assert any(e["type"] == "response" and e["ok"] is True and e.get("status") == 200 for e in events)
    assert "focus" in kinds and "blur" in kinds
    ts = [e["t"] for e in events]
    assert ts == sorted(ts)

    shown = page.get_attribute("#result", "data-class")
    assert shown in {"price_shock", "account_wall", "trust_concern", "form_friction", "technical_error",
                     "distraction"}
    assert page.inner_text("#r-flow").strip()
    assert page.inner_text("#r-class").startswith(shown)
    page.close()


def test_leaving_sends_a_beacon(server, browser):
    import httpx

    page = browser.new_page()
    page.goto(server + "/demo")
    page.wait_for_function("window.FormWhy && window.formwhyDemo")
    sid = page.evaluate("window.formwhyDemo.opts.sessionId")
    page.locator("#email").press_sequentially(SECRET)
    page.goto("about:blank")  # pagehide: exit + navigator.sendBeacon(...?token=<the page's session token>)
    result = None
    for _ in range(100):
        r = httpx.get(f"{server}/v1/sessions/{sid}/result", headers={"Authorization": f"Bearer {KEY}"})
        if r.status_code == 200:
            result = r.json()
            break
        page.wait_for_timeout(100)
    assert result is not None, "no beacon arrived after pagehide"
    assert result["recovery_flow"]
    # the next visit shows what formwhy concluded (fetched with the previous page's own token)
    page.goto(server + "/demo")
    page.wait_for_selector("#last:not([hidden])", timeout=10_000)
    assert "recovery flow" in page.inner_text("#last-text")
    page.close()


def test_snippet_is_fast_and_bounded(server, browser):
    page = browser.new_page()
    page.goto(server + "/demo")
    page.wait_for_function("window.FormWhy && window.formwhyDemo")
    out = page.evaluate("""() => {
        const s = window.formwhyDemo, el = document.getElementById('email');
        el.dispatchEvent(new KeyboardEvent('keydown', {bubbles: true}));
        const n = 3000, t0 = performance.now();
        for (let i = 0; i < n; i++) {
            el.dispatchEvent(new InputEvent('input', {bubbles: true, inputType: 'insertText'}));
        }
        const perEvent = (performance.now() - t0) / n;
        for (let i = 0; i < 4000; i++) el.dispatchEvent(new FocusEvent('focusin', {bubbles: true}));
        const before = s.stats();
        s.push({type: 'exit'});
        const trace = s.trace();
        return {perEvent, before, n: trace.events.length, last: trace.events[trace.events.length - 1].type,
                trace: JSON.stringify(trace)};
    }""")
    assert out["perEvent"] < 1.0, out["perEvent"]
    assert out["before"]["events"] == 4999 and out["before"]["dropped"] > 0
    assert out["n"] == 5000 and out["last"] == "exit"
    parse_trace(json.loads(out["trace"]))
    page.close()


def test_idle_timeout_ends_the_session(server, browser):
    page = browser.new_page()
    page.goto(server + "/demo")
    page.wait_for_function("window.FormWhy && window.formwhyDemo")
    page.evaluate("""() => {
        const f = document.createElement('form');
        f.innerHTML = '<input name="q" autocomplete="off">';
        document.body.appendChild(f);
        window.idleResult = null;
        window.idleSession = FormWhy.attach(f, {endpoint: '', token: window.formwhyDemo.opts.token, kind: 'other',
            formId: 'idle', idleMs: 300, onResult: (r) => { window.idleResult = r; }});
        f.querySelector('input').dispatchEvent(new FocusEvent('focusin', {bubbles: true}));
    }""")
    page.wait_for_function("window.idleResult !== null", timeout=10_000)
    assert page.evaluate("window.idleSession.stats().ended") is True
    assert page.evaluate("window.idleResult.recovery_flow")
    page.close()
