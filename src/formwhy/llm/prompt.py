"""The one prompt builder, used by training and by every inference backend alike.

A prompt is three parts: a fixed instruction ``PREFIX`` (the same for every request, so its key/value cache is
computed once and reused), the compact trace rendering (:mod:`formwhy.render`), and the answer marker ``SUFFIX``.
The model's answer (the completion) starts right after ``SUFFIX`` with the class digit. ``PROMPT_VERSION`` is
recorded in every adapter's manifest; a model is only ever served with the prompt version it was trained on.
"""

from __future__ import annotations

from formwhy.render import render_trace
from formwhy.trace import Trace

PROMPT_VERSION = "formwhy-prompt-v3"

# v2: the class list left the instruction (a fine-tuned model learns the digits from its targets) to save ~35
# tokens on every training sequence and every request
# v3: fields are called by their declared type where it says what they are (formwhy.render.field_labels)
PREFIX = "Why was this form abandoned?\n"
SUFFIX = "\nAnswer:\n"

# training and serving cut long traces to this many event lines (the end of the session is kept)
MAX_EVENT_LINES = 40


def build_prompt(trace: Trace, max_lines: int = MAX_EVENT_LINES) -> str:
    return PREFIX + render_trace(trace, max_lines=max_lines) + SUFFIX


def split_prompt(prompt: str) -> tuple[str, str]:
    """(fixed prefix, the per-request rest) of a prompt made by :func:`build_prompt`."""
    if not prompt.startswith(PREFIX):
        raise ValueError("not a formwhy prompt of version " + PROMPT_VERSION)
    return PREFIX, prompt[len(PREFIX):]
