"""A local HTTP server on 127.0.0.1 that replays scripted responses and records the requests it got."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ReplayServer:
    """``push(path, status, body)`` queues a response for ``path`` (a dict/list is sent as JSON, a str as is);
    a path with an empty queue answers with its ``default`` if set, else 599. ``requests`` holds (method, path,
    json body or None, headers)."""

    def __init__(self) -> None:
        self.queues: dict[str, deque] = {}
        self.defaults: dict[str, tuple[int, Any]] = {}
        self.requests: list[tuple[str, str, Any, dict[str, str]]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with outer._lock:
                    outer.requests.append((self.command, self.path, body, dict(self.headers)))
                    q = outer.queues.get(self.path)
                    status, payload = q.popleft() if q else outer.defaults.get(self.path, (599, "no script"))
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer  # noqa: N815
            do_POST = _answer  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def push(self, path: str, status: int, body: Any) -> None:
        with self._lock:
            self.queues.setdefault(path, deque()).append((status, body))

    def default(self, path: str, status: int, body: Any) -> None:
        self.defaults[path] = (status, body)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
