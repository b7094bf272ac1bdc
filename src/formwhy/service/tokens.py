"""Short-lived per-page session tokens, so a browser never holds the API key.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload))`` where the payload is
``{"sid": session id, "exp": unix seconds}``. A site's server (or the demo page) asks for one with the API key
(``POST /v1/tokens``) and puts it in the page. The snippet sends it as ``Authorization: Bearer`` on ``fetch`` and as
``?token=`` on ``navigator.sendBeacon`` (a beacon cannot carry headers). A token classifies at most
``MAX_USES`` traces and only until it expires, so one leaked from a page is worth little. See docs/service.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict

MAX_USES = 3
_MAX_TRACKED = 100_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(ValueError):
    pass


class TokenIssuer:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self.secret = secret
        self.ttl_s = ttl_s
        self._uses: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, session_id: str | None = None) -> tuple[str, str, int]:
        sid = session_id or secrets.token_urlsafe(12)
        exp = int(time.time()) + self.ttl_s
        payload = json.dumps({"sid": sid, "exp": exp}, separators=(",", ":")).encode()
        sig = hmac.new(self.secret, payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(sig)}", sid, exp

    def verify(self, token: str) -> str:
        """The session id of a valid, unexpired token; TokenError otherwise."""
        try:
            p64, s64 = token.split(".", 1)
            payload, sig = _unb64(p64), _unb64(s64)
        except (ValueError, TypeError):
            raise TokenError("malformed token") from None
        good = hmac.new(self.secret, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(sig, good):
            raise TokenError("bad token signature")
        try:
            data = json.loads(payload)
            sid, exp = str(data["sid"]), int(data["exp"])
        except (ValueError, KeyError, TypeError):
            raise TokenError("malformed token") from None
        if exp < time.time():
            raise TokenError("token expired")
        return sid

    def spend(self, sid: str) -> None:
        """Count one classification against the session; TokenError when it has used up its ``MAX_USES``."""
        with self._lock:
            n = self._uses.get(sid, 0)
            if n >= MAX_USES:
                raise TokenError(f"token used up ({MAX_USES} classifications per session)")
            self._uses[sid] = n + 1
            self._uses.move_to_end(sid)
            while len(self._uses) > _MAX_TRACKED:
                self._uses.popitem(last=False)
