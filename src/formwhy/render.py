"""A deterministic, compact text form of a trace for the model.

Layout (one line each)::

    form checkout shop-checkout, 2 steps, desktop, cart 48.9 EUR
    fields s1: email! name! address! postal_code! | s2: coupon card_number!* ...
    0s view 1
    focus email
    autofill email name address postal_code
    +2s submit 1
    +4s input coupon 8 x2
    ...

Rules (prompt version 3: every token costs latency and training time on a CPU, so the rendering says what a
reader needs and no more):

* **a field is called by its declared type** when the type says what the field is (``email``, ``password``,
  ``card_number``, ... : :data:`TYPED_LABELS`), so ``courriel``, ``e_mail`` and ``email`` all read ``email``, and
  ``clave`` / ``passwort`` read ``password``: the model need not know every language's word for a field. The second
  field of a type is ``password_2``, and so on. A field of a generic type (``text``, ``select``, ``checkbox``, ...)
  keeps its name, which is all that says what it is (``city``, ``company``); when that name is already another
  field's label it becomes ``name_type``. A field named in an event but not declared keeps its name
  (:func:`field_labels`);
* the field table comes once: the label, ``!`` when required, ``*`` when sensitive; grouped by step (``s1:``) when
  the form has more than one step;
* one short line per event; a line starts with the time since the previous line when that is at least a second
  (whole seconds up to a minute ``+12s``, then ``+4.5m`` and ``+1.2h``) and with nothing when it is shorter;
  a field named in an event carries ``*`` when the form declares it sensitive;
* a ``blur`` directly followed by a ``focus`` on another field is folded away (moving on says it), and so is a
  ``focus`` followed within a second by ``input``, ``paste`` or ``autofill`` on the same field (typing says it;
  a longer pause before typing keeps the focus line, because hesitation is a signal);
* a run of consecutive ``autofill`` events becomes one line naming the fields (``autofill email zip``);
* a run of consecutive ``input`` events on one field becomes one line with the final length and the number of
  events, then the number of deletions and the largest length when the value got shorter
  (``input email 17 x9``, ``input ssn 0 x2 del1 max3``); its time is that of its first event;
* **long traces are cut at the front**: when there are more than ``max_lines`` event lines, the first line (the
  session start) and the last ``max_lines - 2`` lines are kept, with one line saying how many events and how much
  time were left out. Abandonment happens at the end of a session, so the end is what is kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from formwhy.trace import ErrorEvent, Event, FieldEvent, Form, LengthEvent, Trace

DEFAULT_MAX_LINES = 80


def fmt_delta(ms: int) -> str:
    s = ms / 1000
    if s < 0.95:
        return f"{s:.1f}s".replace(".0s", "s")
    if s < 59.5:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s / 60:.1f}m".replace(".0m", "m")
    return f"{s / 3600:.1f}h".replace(".0h", "h")


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


# declared types that say what a field is; a field of any other type (text, number, select, checkbox, radio,
# textarea, other) is called by its name
TYPED_LABELS = frozenset({"name", "email", "tel", "password", "date", "address", "postal_code", "card_number",
                          "card_expiry", "card_cvc", "coupon"})


def field_labels(form: Form) -> dict[str, str]:
    """The label each declared field name is rendered with (see the module docstring); labels are unique."""
    labels: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for f in form.fields:
        if f.type in TYPED_LABELS and f.name not in labels:
            seen[f.type] += 1
            labels[f.name] = f.type if seen[f.type] == 1 else f"{f.type}_{seen[f.type]}"
    taken = set(labels.values())
    for f in form.fields:
        if f.name in labels:
            continue
        label = f.name
        if label in taken:
            label = f"{f.name}_{f.type}"
            k = 2
            while label in taken:
                label, k = f"{f.name}_{f.type}{k}", k + 1
        labels[f.name] = label
        taken.add(label)
    return labels


def relabel(text: str, names: dict[str, str]) -> str:
    """``text`` with each whole-word occurrence of a name replaced by its new name (``{old: new}``).

    Used on a training example's reasoning so that it names fields as the rendered trace does. A name is whole when
    no letter, digit, ``_``, ``-``, ``[`` or ``]`` touches it (a full stop may follow it: it ends a sentence).
    """
    names = {old: new for old, new in names.items() if old != new}
    if not names:
        return text
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(r"(?<![A-Za-z0-9_\-\[\]])(" + alternatives + r")(?![A-Za-z0-9_\-\[\]])")
    return pattern.sub(lambda m: names[m.group(1)], text)


def render_header(trace: Trace, labels: dict[str, str] | None = None) -> list[str]:
    form = trace.form
    head = f"form {form.kind} {form.id}, {form.steps} step{'s' if form.steps > 1 else ''}"
    ctx = trace.context
    if ctx is not None:
        if ctx.device:
            head += f", {ctx.device}"
        if ctx.returning:
            head += ", returning"
        if ctx.cart_value is not None:
            head += f", cart {_num(ctx.cart_value)}" + (f" {ctx.currency}" if ctx.currency else "")
        if ctx.locale:
            head += f", {ctx.locale}"
    labels = field_labels(form) if labels is None else labels
    groups: dict[int, list[str]] = {}
    for f in form.fields:
        cell = labels[f.name] + ("!" if f.required else "")
        cell += "*" if f.sensitive else ""
        groups.setdefault(f.step, []).append(cell)
    if form.steps > 1 or len(groups) > 1:
        table = " | ".join(f"s{step}: " + " ".join(cells) for step, cells in sorted(groups.items()))
    else:
        table = " ".join(cells for cells_list in groups.values() for cells in cells_list)
    return [head, "fields " + table]


@dataclass
class _Line:
    t: int  # time of the first event in the line
    t_end: int  # time of the last event in the line
    text: str
    n_events: int


@dataclass(frozen=True)
class _Fields:
    labels: dict[str, str]  # declared name -> label
    sensitive: set[str]  # declared names

    def __call__(self, name: str) -> str:
        return self.labels.get(name, name) + ("*" if name in self.sensitive else "")


def _event_text(ev: Event, field: _Fields) -> str:
    kind = ev.type
    if isinstance(ev, FieldEvent):
        return f"{kind} {field(ev.field)}"
    if isinstance(ev, LengthEvent):
        return f"{kind} {field(ev.field)} {ev.len}"
    if isinstance(ev, ErrorEvent):
        return f"error {field(ev.field) + ' ' if ev.field else ''}{ev.code}"
    if kind == "view" or kind == "submit":
        return f"{kind} {ev.step}"  # type: ignore[union-attr]
    if kind == "click":
        return f"click {ev.target}"  # type: ignore[union-attr]
    if kind == "price":
        return f"price {ev.kind} {_num(ev.amount)}"  # type: ignore[union-attr]
    if kind == "response":
        text = "response " + ("ok" if ev.ok else "FAIL")  # type: ignore[union-attr]
        if ev.status is not None and not (ev.ok and ev.status == 200):  # type: ignore[union-attr]
            text += f" {ev.status}"  # type: ignore[union-attr]
        if ev.ms is not None:  # type: ignore[union-attr]
            text += f" {fmt_delta(ev.ms)}"  # type: ignore[union-attr]
        return text
    if kind == "js_error":
        return "js_error" + (f" {ev.code}" if ev.code else "")  # type: ignore[union-attr]
    return kind


def _input_run_text(field: str, lens: list[int]) -> str:
    dels = sum(1 for a, b in zip(lens, lens[1:], strict=False) if b < a)
    body = f"{lens[-1]} x{len(lens)}"
    if dels:
        body += f" del{dels}"
    if max(lens) > lens[-1]:
        body += f" max{max(lens)}"
    return f"input {field} {body}"


# a gap shorter than this is not written (and a focus this close to typing is folded away)
SHOWN_GAP_MS = 950
_TYPING = ("input", "paste", "autofill")


def _run(events: list[Event], i: int, same: Callable[[Event], bool]) -> list[Event]:
    """``events[i]`` and the consecutive events after it for which ``same`` holds."""
    j = i
    while j + 1 < len(events) and same(events[j + 1]):
        j += 1
    return events[i:j + 1]


def event_lines(trace: Trace, labels: dict[str, str] | None = None) -> list[_Line]:
    labels = field_labels(trace.form) if labels is None else labels
    field = _Fields(labels, {f.name for f in trace.form.fields if f.sensitive})
    lines: list[_Line] = []
    events = trace.events
    i = 0
    while i < len(events):
        ev = events[i]
        if ev.type == "autofill":
            run = _run(events, i, lambda e: e.type == "autofill")
            if len(run) > 1:
                names = " ".join(field(e.field) for e in run)  # type: ignore[union-attr]
                lines.append(_Line(ev.t, run[-1].t, f"autofill {names}", len(run)))
                i += len(run)
                continue
        if (ev.type == "focus" and i + 1 < len(events) and events[i + 1].type in _TYPING
                and events[i + 1].field == ev.field and events[i + 1].t - ev.t < SHOWN_GAP_MS):  # type: ignore[union-attr]
            i += 1  # folded: typing into the field says the visitor focused it
            continue
        if ev.type == "input":
            run = _run(events, i, lambda e, f=ev.field: e.type == "input" and e.field == f)  # type: ignore[union-attr]
            if len(run) > 1:
                text = _input_run_text(field(ev.field), [e.len for e in run])  # type: ignore[union-attr]
                lines.append(_Line(ev.t, run[-1].t, text, len(run)))
                i += len(run)
                continue
        if (ev.type == "blur" and i + 1 < len(events) and events[i + 1].type == "focus"
                and events[i + 1].field != ev.field):  # type: ignore[union-attr]
            i += 1  # folded: moving on to the next field says the visitor left this one
            continue
        lines.append(_Line(ev.t, ev.t, _event_text(ev, field), 1))
        i += 1
    return lines


def render_trace(trace: Trace, max_lines: int = DEFAULT_MAX_LINES) -> str:
    """The compact text of a trace (see the module docstring for the rules)."""
    if max_lines < 3:
        raise ValueError("max_lines must be at least 3")
    labels = field_labels(trace.form)  # once per trace, for the field table and the event lines alike
    lines = event_lines(trace, labels)
    out = render_header(trace, labels)
    if len(lines) > max_lines:
        keep_tail = max_lines - 2
        head, cut, tail = lines[0], lines[1:-keep_tail], lines[-keep_tail:]
        n_cut = sum(line.n_events for line in cut)
        span = cut[-1].t_end - cut[0].t
        out.append(f"{fmt_delta(head.t)} {head.text}")
        out.append(f"... {n_cut} events cut ({fmt_delta(span)})")
        prev = cut[-1].t_end
        body = tail
    else:
        prev = lines[0].t
        out.append(f"{fmt_delta(lines[0].t)} {lines[0].text}")
        body = lines[1:]
    for line in body:
        gap = line.t - prev
        out.append(f"+{fmt_delta(gap)} {line.text}" if gap >= SHOWN_GAP_MS else line.text)
        prev = line.t_end
    return "\n".join(out)
