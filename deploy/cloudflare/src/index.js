// formwhy on Cloudflare Workers AI: POST a formwhy.trace/v1 trace (or {"trace": ...}) to /classify.
// The Worker builds THE formwhy prompt, runs the base model with the uploaded LoRA (raw prompt, no chat template)
// and returns the class with its *verbalized* confidence: Workers AI gives no log-probabilities, so the calibrated
// first-token probability of the vLLM / local backends is not available here.

import { AnswerFormatError, parseAnswer } from "./answer.js";
import { buildPrompt, PROMPT_VERSION } from "./prompt.js";

const DEFAULT_MODEL = "@cf/google/gemma-2b-it-lora";

function json(body, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function looksLikeTrace(t) {
  return t && typeof t === "object" && t.schema === "formwhy.trace/v1" && t.form && Array.isArray(t.form.fields) &&
    Array.isArray(t.events) && t.events.length > 0;
}

export async function classify(trace, env) {
  const model = env.MODEL || DEFAULT_MODEL;
  const lora = env.LORA || "formwhy";
  const prompt = buildPrompt(trace);
  const out = await env.AI.run(model, { prompt, raw: true, lora, max_tokens: 128, temperature: 0 });
  const text = typeof out === "string" ? out : out?.response;
  if (typeof text !== "string") throw new AnswerFormatError("no_response", "the model returned no text");
  const ans = parseAnswer(text);
  return { class: ans.label, digit: ans.digit, confidence: ans.confidence, confidence_kind: "verbalized",
    reasoning: ans.reasoning, recovery_flow: ans.recovery_flow, model, lora, prompt_version: PROMPT_VERSION };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/healthz") return json({ ok: true });
    if (request.method !== "POST" || url.pathname !== "/classify") {
      return json({ error: "POST a formwhy.trace/v1 trace to /classify" }, 404);
    }
    let body;
    try {
      body = await request.json();
    } catch {
      return json({ error: "the body is not JSON" }, 400);
    }
    const trace = body && body.trace && !body.schema ? body.trace : body;
    if (!looksLikeTrace(trace)) return json({ error: "not a formwhy.trace/v1 trace (schema, form, events)" }, 422);
    try {
      return json(await classify(trace, env));
    } catch (e) {
      if (e instanceof AnswerFormatError) return json({ error: "the model's answer is malformed", reason: e.reason },
        502);
      return json({ error: `Workers AI failed: ${e.message}` }, 502);
    }
  },
};
