"""Progress for long runs over many traces: scoring a few hundred with the LLM takes minutes to an hour on a CPU.

In a terminal it is a rich bar. Elsewhere (a log file, CI, ``nohup``) rich draws nothing, so a plain line is written
instead, at most every ``every`` seconds and once at the end: a long run is never silent. Rich has no such mode for
a file, hence these few lines by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@contextmanager
def progress(description: str, total: int, *, console: Console | None = None, every: float = 30.0,
             disable: bool = False) -> Iterator[Callable[..., None]]:
    """Yields ``advance(n, note=None)``, to call after each ``n`` items done out of ``total``; ``note`` (running
    counts, say) is shown after the bar, or at the end of the plain line, until another note replaces it."""
    console = console or Console(stderr=True)
    if disable or total <= 0:
        yield lambda n, note=None: None
        return
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        # markup off: a description or note with "[" in it (a file name, say) is text, not rich markup
        with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[note]}", markup=False), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task(description, total=total, note="")
            yield lambda n, note=None: bar.update(task, advance=n, **({} if note is None else {"note": note}))
        return
    start = time.monotonic()
    state: dict = {"done": 0, "last": start, "note": ""}

    def advance(n: int, note: str | None = None) -> None:
        state["done"] += n
        if note is not None:
            state["note"] = note
        note = state["note"]
        now = time.monotonic()
        done = int(state["done"])
        if now - state["last"] < every and done < total:
            return
        state["last"] = now
        elapsed = now - start
        left = f", about {_duration(elapsed / done * (total - done))} left" if done < total else ""
        console.print(f"{description}: {done}/{total} ({100 * done / total:.0f} %), {_duration(elapsed)}"
                      f"{left}" + (f"; {note}" if note else ""), markup=False, highlight=False)

    yield advance
