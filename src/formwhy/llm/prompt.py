"""The one prompt builder, used by training and by every inference backend alike.

A prompt is three parts: a fixed instruction ``PREFIX`` (the same for every request, so its key/value cache is
computed once and reused), the compact trace rendering (:mod:`formwhy.render`), and the answer marker ``SUFFIX``.
The model's answer (the completion) starts right after ``SUFFIX`` with the class digit. ``PROMPT_VERSION`` is
recorded in every adapter's manifest; a model is only ever served with the prompt version it was trained on.
"""

from __future__ import annotations

from formwhy.render import render_trace
from formwhy.trace import Trace

PROMPT_VERSION = "formwhy-prompt-v1"

PREFIX = (
    "Why was this form abandoned? 1 price_shock 2 account_wall 3 trust_concern 4 form_friction "
    "5 technical_error 6 distraction. Answer: digit, then JSON.\n"
)
SUFFIX = "\nAnswer:\n"

# training and serving cut long traces to this many event lines (the end of the session is kept)
MAX_EVENT_LINES = 48


def build_prompt(trace: Trace, max_lines: int = MAX_EVENT_LINES) -> str:
    return PREFIX + render_trace(trace, max_lines=max_lines) + SUFFIX


def split_prompt(prompt: str) -> tuple[str, str]:
    """(fixed prefix, the per-request rest) of a prompt made by :func:`build_prompt`."""
    if not prompt.startswith(PREFIX):
        raise ValueError("not a formwhy prompt of version " + PROMPT_VERSION)
    return PREFIX, prompt[len(PREFIX):]
