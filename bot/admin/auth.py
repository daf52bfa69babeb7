"""Access to the admin page: the token check, the signed session cookie, loopback addresses.

The login form compares the token with `hmac.compare_digest`. A good token earns a cookie
"<expiry>.<HMAC-SHA256 of the expiry>" keyed by a key derived from the token: it holds no
secret, expires server-side, and changing ADMIN_TOKEN ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable

COOKIE_NAME = "pilote_ia_admin"
SESSION_S = 8 * 3600  # one working day
_KEY_CONTEXT = b"pilote-ia admin session v1"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


class Sessions:
    """Checks the token and issues and verifies session cookies."""

    def __init__(
        self, token: str, *, lifetime_s: int = SESSION_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._token = token.encode()
        self._key = hmac.new(self._token, _KEY_CONTEXT, hashlib.sha256).digest()
        self.lifetime_s = lifetime_s
        self._clock = clock

    def token_matches(self, given: str) -> bool:
        """Constant-time comparison of a typed token with the configured one."""
        return hmac.compare_digest(given.encode(), self._token)

    def issue(self) -> str:
        """A new session cookie value."""
        expiry = str(int(self._clock()) + self.lifetime_s)
        return f"{expiry}.{self._sign(expiry)}"

    def valid(self, cookie: str | None) -> bool:
        """True for a cookie this token signed and that has not expired."""
        if not cookie:
            return False
        expiry, _, signature = cookie.partition(".")
        if not expiry.isascii() or not expiry.isdigit():
            return False
        if not hmac.compare_digest(signature.encode(), self._sign(expiry).encode()):
            return False
        return int(expiry) > self._clock()

    def _sign(self, expiry: str) -> str:
        return hmac.new(self._key, expiry.encode(), hashlib.sha256).hexdigest()
