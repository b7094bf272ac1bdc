// node --test deploy/cloudflare/test/  (a fake AI binding: Workers AI has no local simulation)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { parseAnswer } from "../src/answer.js";
import worker from "../src/index.js";
import { buildPrompt, fmtDelta, pyFixed, PREFIX, SUFFIX } from "../src/prompt.js";

const example = JSON.parse(readFileSync(new URL(
  "../../../src/formwhy/spec/examples/1-price_shock.json", import.meta.url)));

function fakeAI(response) {
  const calls = [];
  return { calls, async run(model, input) { calls.push({ model, input }); return typeof response === "function"
    ? response(model, input) : { response, usage: { prompt_tokens: 200, completion_tokens: 30 } }; } };
}

function post(body) {
  return new Request("https://formwhy.example/classify", { method: "POST", body: JSON.stringify(body),
    headers: { "content-type": "application/json" } });
}

const ANSWER = '1\n{"class": "price_shock", "reasoning": "Left after shipping appeared.", "confidence": 0.82}';

test("python-style rounding (half to even on the exact value)", () => {
  assert.equal(pyFixed(0.25, 1), "0.2");
  assert.equal(pyFixed(0.35, 1), "0.3"); // 0.35 is 0.34999... in binary
  assert.equal(pyFixed(2.5, 0), "2");
  assert.equal(pyFixed(3.5, 0), "4");
  assert.equal(pyFixed(48.9, 2), "48.90");
  assert.equal(fmtDelta(250), "0.2s");
  assert.equal(fmtDelta(0), "0s");
  assert.equal(fmtDelta(2500), "2s");
  assert.equal(fmtDelta(270000), "4.5m");
  assert.equal(fmtDelta(3600000), "1h");
});

test("the Worker calls the model with the raw formwhy prompt and the LoRA", async () => {
  const AI = fakeAI(ANSWER);
  const res = await worker.fetch(post(example), { AI, MODEL: "@cf/google/gemma-2b-it-lora", LORA: "formwhy-r8" });
  assert.equal(res.status, 200);
  const out = await res.json();
  assert.deepEqual(out, { class: "price_shock", digit: 1, confidence: 0.82, confidence_kind: "verbalized",
    reasoning: "Left after shipping appeared.", recovery_flow: "discount", model: "@cf/google/gemma-2b-it-lora",
    lora: "formwhy-r8", prompt_version: "formwhy-prompt-v3" });
  assert.equal(AI.calls.length, 1);
  const { model, input } = AI.calls[0];
  assert.equal(model, "@cf/google/gemma-2b-it-lora");
  assert.equal(input.raw, true);
  assert.equal(input.lora, "formwhy-r8");
  assert.equal(input.prompt, buildPrompt(example));
  assert.ok(input.prompt.startsWith(PREFIX) && input.prompt.endsWith(SUFFIX));
});

test("a labelled example {trace: ...} is accepted", async () => {
  const res = await worker.fetch(post({ trace: example, label: "price_shock" }), { AI: fakeAI(ANSWER) });
  assert.equal(res.status, 200);
});

test("a malformed model answer is a 502 with the reason", async () => {
  const res = await worker.fetch(post(example), { AI: fakeAI("I think the visitor") });
  assert.equal(res.status, 502);
  assert.equal((await res.json()).reason, "no_digit");
});

test("a Workers AI failure is a 502 naming it", async () => {
  const AI = fakeAI(() => { throw new Error("3037: Finetune not found"); });
  const res = await worker.fetch(post(example), { AI });
  assert.equal(res.status, 502);
  assert.match((await res.json()).error, /3037/);
});

test("bad requests", async () => {
  const AI = fakeAI(ANSWER);
  assert.equal((await worker.fetch(post({ hello: 1 }), { AI })).status, 422);
  const notJson = new Request("https://x/classify", { method: "POST", body: "{" });
  assert.equal((await worker.fetch(notJson, { AI })).status, 400);
  assert.equal((await worker.fetch(new Request("https://x/other"), { AI })).status, 404);
  assert.equal((await worker.fetch(new Request("https://x/healthz"), { AI })).status, 200);
  assert.equal(AI.calls.length, 0);
});

test("parseAnswer follows the spec", () => {
  assert.equal(parseAnswer(ANSWER + "\ntrailing text").confidence, 0.82);
  for (const [text, reason] of [["", "empty"], ["7\n{}", "bad_digit"], ["1", "no_json"], ["1\n{", "bad_json"],
    ['1\n{"class": "price_shock"}', "missing_key"],
    ['1\n{"class": "distraction", "reasoning": "x", "confidence": 0.5}', "class_mismatch"],
    ['1\n{"class": "price_shock", "reasoning": "x", "confidence": 85}', "bad_confidence"]]) {
    assert.throws(() => parseAnswer(text), (e) => e.reason === reason, text);
  }
});
