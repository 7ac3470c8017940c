"""The sandbox's OAuth 2.0 token endpoint (RFC 6749 section 4.1.3 and 6).

It issues tokens for any authorization code and refreshes any refresh token,
because the sandbox has no consent screen and may restart between a client's
runs. A test can switch refreshing to fail with ``invalid_grant``, Google's
answer for a revoked or expired refresh token; access tokens issued until then
count as revoked from that moment.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.sandbox.errors import Unauthenticated

ACCESS_TOKEN_SECONDS = 3599
DEFAULT_SCOPE = "https://www.googleapis.com/auth/gmail.modify"
# Google's text for a revoked or expired refresh token.
REVOKED_DESCRIPTION = "Token has been expired or revoked."


@dataclass
class TokenError(Exception):
    """An OAuth error response: HTTP 400 with ``error`` and ``error_description``."""

    error: str
    description: str
    status: int = 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class TokenAuthority:
    """Issue, refresh and revoke the sandbox's bearer tokens."""

    def __init__(self) -> None:
        self._issued: set[str] = set()
        self._revoked: set[str] = set()
        self._refresh_fails = False
        self._granted_scope = DEFAULT_SCOPE
        self._lock = threading.Lock()

    def grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a token request given as its form fields, or raise TokenError."""
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            _require(form, "code")
            return self._issue(form, with_refresh_token=True)
        if grant_type == "refresh_token":
            _require(form, "refresh_token")
            with self._lock:
                if self._refresh_fails:
                    raise TokenError("invalid_grant", REVOKED_DESCRIPTION)
            return self._issue(form, with_refresh_token=False)
        if not grant_type:
            raise TokenError("invalid_request", "Missing required parameter: grant_type")
        raise TokenError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def set_refresh(self, mode: str) -> None:
        """Make refreshes fail ("invalid_grant") or succeed again ("ok")."""
        if mode not in ("ok", "invalid_grant"):
            raise ValueError(f'invalid refresh mode {mode!r}; use "ok" or "invalid_grant"')
        with self._lock:
            self._refresh_fails = mode == "invalid_grant"
            if self._refresh_fails:
                self._revoked |= self._issued
                self._issued.clear()

    def set_granted_scope(self, scope: str) -> None:
        """Set the scopes granted for an authorization code, space separated.

        The sandbox has no consent screen, so this stands for what the user
        ticked there; Google answers the code exchange with the granted scopes.
        """
        if not scope.strip():
            raise ValueError("the granted scope must name at least one scope")
        with self._lock:
            self._granted_scope = " ".join(scope.split())

    def settings(self) -> dict[str, str]:
        with self._lock:
            refresh = "invalid_grant" if self._refresh_fails else "ok"
            return {"refresh": refresh, "scope": self._granted_scope}

    def check(self, authorization: str | None) -> None:
        """Raise Unauthenticated for a revoked bearer token.

        NOTE: requests without a token, or with one this sandbox never issued,
        are accepted, so clients built without credentials keep working.
        """
        if not authorization or not authorization.lower().startswith("bearer "):
            return
        token = authorization[len("bearer "):].strip()
        with self._lock:
            revoked = token in self._revoked
        if revoked:
            raise Unauthenticated()

    def _issue(self, form: Mapping[str, str], *, with_refresh_token: bool) -> dict[str, Any]:
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        with self._lock:
            self._issued.add(token)
        answer: dict[str, Any] = {
            "access_token": token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": form.get("scope") or self._granted_scope,
            "token_type": "Bearer",
        }
        if with_refresh_token:
            answer["refresh_token"] = "1//sandbox-" + secrets.token_urlsafe(24)
        return answer


def _require(form: Mapping[str, str], name: str) -> None:
    if not form.get(name):
        raise TokenError("invalid_request", f"Missing required parameter: {name}")
