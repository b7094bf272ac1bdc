// The model's answer (spec section 3), ported from src/formwhy/answer.py: the class digit alone on the first line,
// then one JSON object {"class", "reasoning", "confidence"}.

export const CLASSES = [
  { digit: 1, name: "price_shock", recovery_flow: "discount" },
  { digit: 2, name: "account_wall", recovery_flow: "guest_checkout" },
  { digit: 3, name: "trust_concern", recovery_flow: "trust_message" },
  { digit: 4, name: "form_friction", recovery_flow: "inline_help" },
  { digit: 5, name: "technical_error", recovery_flow: "oncall_alert" },
  { digit: 6, name: "distraction", recovery_flow: "reminder" },
];

export class AnswerFormatError extends Error {
  constructor(reason, message) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

// A JSON object at the start of `text`, ignoring what follows it (a generation that ran on).
function leadingJson(text) {
  let depth = 0;
  let inStr = false;
  let esc = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (esc) esc = false;
      else if (c === "\\") esc = true;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return JSON.parse(text.slice(0, i + 1));
  }
  throw new SyntaxError("unterminated JSON object");
}

export function parseAnswer(text) {
  const stripped = text.replace(/^\s+/, "");
  if (!stripped) throw new AnswerFormatError("empty", "the answer is empty");
  const nl = stripped.indexOf("\n");
  const first = (nl < 0 ? stripped : stripped.slice(0, nl)).trim();
  const rest = (nl < 0 ? "" : stripped.slice(nl + 1)).trim();
  if (!/^[0-9]$/.test(first)) throw new AnswerFormatError("no_digit", `the first line must be a class digit 1-6`);
  const cls = CLASSES.find((c) => String(c.digit) === first);
  if (!cls) throw new AnswerFormatError("bad_digit", `${first} is not a class digit (1-6)`);
  if (!rest.startsWith("{")) throw new AnswerFormatError("no_json", "no JSON object after the digit line");
  let obj;
  try {
    obj = leadingJson(rest);
  } catch (e) {
    throw new AnswerFormatError("bad_json", `the JSON object does not parse: ${e.message}`);
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new AnswerFormatError("bad_json", "the JSON after the digit is not an object");
  }
  const missing = ["class", "reasoning", "confidence"].filter((k) => !(k in obj));
  if (missing.length) throw new AnswerFormatError("missing_key", `the JSON object lacks ${missing.join(", ")}`);
  if (obj.class !== cls.name) throw new AnswerFormatError("class_mismatch", `the digit says ${cls.name}`);
  if (typeof obj.reasoning !== "string" || !obj.reasoning.trim()) {
    throw new AnswerFormatError("bad_reasoning", "reasoning must be a non-empty string");
  }
  const c = obj.confidence;
  if (typeof c !== "number" || !Number.isFinite(c) || c < 0 || c > 1) {
    throw new AnswerFormatError("bad_confidence", `confidence must be a number within [0, 1]`);
  }
  return { digit: cls.digit, label: cls.name, reasoning: obj.reasoning.trim(), confidence: c,
    recovery_flow: cls.recovery_flow };
}
