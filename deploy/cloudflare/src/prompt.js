// THE formwhy prompt, ported line for line from src/formwhy/render.py and src/formwhy/llm/prompt.py
// (formwhy-prompt-v3). tests/test_cloudflare_prompt.py checks that it builds byte-identical prompts.

export const PROMPT_VERSION = "formwhy-prompt-v3";
export const PREFIX = "Why was this form abandoned?\n";
export const SUFFIX = "\nAnswer:\n";
export const MAX_EVENT_LINES = 40;
export const SHOWN_GAP_MS = 950;
const TYPING = ["input", "paste", "autofill"];
export const DEFAULT_MAX_LINES = 80;

// Python's f"{x:.{d}f}": round half to even on the exact binary value (JS toFixed rounds ties up).
export function pyFixed(x, d) {
  const neg = x < 0;
  const exact = Math.abs(x).toFixed(100); // exact decimal expansion for the magnitudes a trace holds
  const [ip, fp] = exact.split(".");
  const keep = fp.slice(0, d);
  const next = fp.charCodeAt(d) - 48;
  const rest = fp.slice(d + 1);
  let digits = ip + keep; // as an integer string, scaled by 10^d
  let up = false;
  if (next > 5) up = true;
  else if (next === 5) {
    if (/[1-9]/.test(rest)) up = true;
    else up = (digits.charCodeAt(digits.length - 1) - 48) % 2 === 1; // a tie: to even
  }
  if (up) digits = (BigInt(digits) + 1n).toString();
  digits = digits.padStart(d + 1, "0");
  const out = d > 0 ? digits.slice(0, digits.length - d) + "." + digits.slice(digits.length - d) : digits;
  return (neg && /[1-9]/.test(out) ? "-" : "") + out;
}

export function fmtDelta(ms) {
  const s = ms / 1000;
  if (s < 0.95) return (pyFixed(s, 1) + "s").replaceAll(".0s", "s");
  if (s < 59.5) return pyFixed(s, 0) + "s";
  if (s < 3600) return (pyFixed(s / 60, 1) + "m").replaceAll(".0m", "m");
  return (pyFixed(s / 3600, 1) + "h").replaceAll(".0h", "h");
}

function num(x) {
  return pyFixed(x, 2).replace(/0+$/, "").replace(/\.$/, "");
}

// declared types that say what a field is: such a field is called by its type (render.py TYPED_LABELS)
export const TYPED_LABELS = new Set(["name", "email", "tel", "password", "date", "address", "postal_code",
  "card_number", "card_expiry", "card_cvc", "coupon"]);

// render.py field_labels: declared name -> the label it is rendered with (unique)
export function fieldLabels(form) {
  const labels = new Map();
  const seen = new Map();
  for (const f of form.fields) {
    if (TYPED_LABELS.has(f.type) && !labels.has(f.name)) {
      const k = (seen.get(f.type) ?? 0) + 1;
      seen.set(f.type, k);
      labels.set(f.name, k === 1 ? f.type : `${f.type}_${k}`);
    }
  }
  const taken = new Set(labels.values());
  for (const f of form.fields) {
    if (labels.has(f.name)) continue;
    let label = f.name;
    if (taken.has(label)) {
      label = `${f.name}_${f.type}`;
      let k = 2;
      while (taken.has(label)) {
        label = `${f.name}_${f.type}${k}`;
        k += 1;
      }
    }
    labels.set(f.name, label);
    taken.add(label);
  }
  return labels;
}

export function renderHeader(trace) {
  const form = trace.form;
  let head = `form ${form.kind} ${form.id}, ${form.steps} step${form.steps > 1 ? "s" : ""}`;
  const ctx = trace.context;
  if (ctx !== undefined && ctx !== null) {
    if (ctx.device) head += `, ${ctx.device}`;
    if (ctx.returning) head += ", returning";
    if (ctx.cart_value !== undefined && ctx.cart_value !== null) {
      head += `, cart ${num(ctx.cart_value)}` + (ctx.currency ? ` ${ctx.currency}` : "");
    }
    if (ctx.locale) head += `, ${ctx.locale}`;
  }
  const labels = fieldLabels(form);
  const groups = new Map();
  for (const f of form.fields) {
    let cell = labels.get(f.name) + (f.required ? "!" : "");
    cell += f.sensitive ? "*" : "";
    const step = f.step ?? 1;
    if (!groups.has(step)) groups.set(step, []);
    groups.get(step).push(cell);
  }
  let table;
  if (form.steps > 1 || groups.size > 1) {
    table = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([s, cells]) => `s${s}: ` + cells.join(" "))
      .join(" | ");
  } else {
    table = [...groups.values()].flat().join(" ");
  }
  return [head, "fields " + table];
}

// fields: { labels: Map declared name -> label, sensitive: Set of declared names }
function fieldName(name, fields) {
  return (fields.labels.get(name) ?? name) + (fields.sensitive.has(name) ? "*" : "");
}

function eventText(ev, fields) {
  const kind = ev.type;
  if (["focus", "blur", "autofill", "change"].includes(kind)) return `${kind} ${fieldName(ev.field, fields)}`;
  if (kind === "input" || kind === "paste") return `${kind} ${fieldName(ev.field, fields)} ${ev.len}`;
  if (kind === "error") return `error ${ev.field ? fieldName(ev.field, fields) + " " : ""}${ev.code}`;
  if (kind === "view" || kind === "submit") return `${kind} ${ev.step}`;
  if (kind === "click") return `click ${ev.target}`;
  if (kind === "price") return `price ${ev.kind} ${num(ev.amount)}`;
  if (kind === "response") {
    let text = "response " + (ev.ok ? "ok" : "FAIL");
    const status = ev.status ?? null;
    if (status !== null && !(ev.ok && status === 200)) text += ` ${status}`;
    if (ev.ms !== undefined && ev.ms !== null) text += ` ${fmtDelta(ev.ms)}`;
    return text;
  }
  if (kind === "js_error") return "js_error" + (ev.code ? ` ${ev.code}` : "");
  return kind;
}

function inputRunText(field, lens) {
  let dels = 0;
  for (let i = 1; i < lens.length; i++) if (lens[i] < lens[i - 1]) dels++;
  const last = lens[lens.length - 1];
  let body = `${last} x${lens.length}`;
  if (dels) body += ` del${dels}`;
  const max = Math.max(...lens);
  if (max > last) body += ` max${max}`;
  return `input ${field} ${body}`;
}

// events[i] and the consecutive events after it for which same(event) holds
function runFrom(events, i, same) {
  let j = i;
  while (j + 1 < events.length && same(events[j + 1])) j++;
  return events.slice(i, j + 1);
}

export function eventLines(trace) {
  const fields = { labels: fieldLabels(trace.form),
    sensitive: new Set(trace.form.fields.filter((f) => f.sensitive).map((f) => f.name)) };
  const events = trace.events;
  const lines = [];
  let i = 0;
  while (i < events.length) {
    const ev = events[i];
    if (ev.type === "autofill") {
      const run = runFrom(events, i, (e) => e.type === "autofill");
      if (run.length > 1) {
        const names = run.map((e) => fieldName(e.field, fields)).join(" ");
        lines.push({ t: ev.t, tEnd: run[run.length - 1].t, text: `autofill ${names}`, n: run.length });
        i += run.length;
        continue;
      }
    }
    if (ev.type === "focus" && i + 1 < events.length && TYPING.includes(events[i + 1].type) &&
        events[i + 1].field === ev.field && events[i + 1].t - ev.t < SHOWN_GAP_MS) {
      i++;
      continue;
    }
    if (ev.type === "input") {
      const run = runFrom(events, i, (e) => e.type === "input" && e.field === ev.field);
      if (run.length > 1) {
        const text = inputRunText(fieldName(ev.field, fields), run.map((e) => e.len));
        lines.push({ t: ev.t, tEnd: run[run.length - 1].t, text, n: run.length });
        i += run.length;
        continue;
      }
    }
    if (ev.type === "blur" && i + 1 < events.length && events[i + 1].type === "focus" &&
        events[i + 1].field !== ev.field) {
      i++;
      continue;
    }
    lines.push({ t: ev.t, tEnd: ev.t, text: eventText(ev, fields), n: 1 });
    i++;
  }
  return lines;
}

export function renderTrace(trace, maxLines = DEFAULT_MAX_LINES) {
  if (maxLines < 3) throw new Error("max_lines must be at least 3");
  const lines = eventLines(trace);
  const out = renderHeader(trace);
  let prev;
  let body;
  if (lines.length > maxLines) {
    const keepTail = maxLines - 2;
    const head = lines[0];
    const cut = lines.slice(1, lines.length - keepTail);
    const tail = lines.slice(lines.length - keepTail);
    const nCut = cut.reduce((a, l) => a + l.n, 0);
    const span = cut[cut.length - 1].tEnd - cut[0].t;
    out.push(`${fmtDelta(head.t)} ${head.text}`);
    out.push(`... ${nCut} events cut (${fmtDelta(span)})`);
    prev = cut[cut.length - 1].tEnd;
    body = tail;
  } else {
    prev = lines[0].t;
    out.push(`${fmtDelta(lines[0].t)} ${lines[0].text}`);
    body = lines.slice(1);
  }
  for (const line of body) {
    const gap = line.t - prev;
    out.push(gap >= SHOWN_GAP_MS ? `+${fmtDelta(gap)} ${line.text}` : line.text);
    prev = line.tEnd;
  }
  return out.join("\n");
}

export function buildPrompt(trace, maxLines = MAX_EVENT_LINES) {
  return PREFIX + renderTrace(trace, maxLines) + SUFFIX;
}
