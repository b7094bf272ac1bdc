"""The retry loop shared by the HTTP backends (``openai_compat``, ``workers_ai``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from formwhy.backends.base import BackendError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def post_retrying(client: Any, url: str, body: dict[str, Any], *, backend: str, retries: int, backoff: float,
                  unreachable: Callable[[Exception], str], retry_reason: Callable[[Any], str]) -> Any:
    """POST ``body`` as JSON with an ``httpx.Client``; return the first response whose status is not in
    :data:`RETRY_STATUS`.

    A connection failure, a timeout or a retryable status is tried again, up to ``retries`` more times, after
    ``backoff * 2**(attempt - 1)`` seconds (and a numeric ``Retry-After``, at most 30 s). ``unreachable(exc)`` and
    ``retry_reason(response)`` word the last such failure in the :class:`BackendError` raised when the attempts run
    out; any other transport error is raised at once.
    """
    import httpx

    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            resp = client.post(url, json=body)
        except (httpx.ConnectError, httpx.TimeoutException) as exc:
            last = unreachable(exc)
            continue
        except httpx.HTTPError as exc:
            raise BackendError(backend, f"{url}: {exc}") from exc
        if resp.status_code in RETRY_STATUS:
            last = retry_reason(resp)
            retry_after = resp.headers.get("retry-after")
            if retry_after and retry_after.isdigit() and attempt < retries:
                time.sleep(min(float(retry_after), 30.0))
            continue
        return resp
    raise BackendError(backend, f"gave up after {retries + 1} attempts: {last}")
