"""Who may change state through the console: the operator who knows its token.

Without a token (`create_app(token=None)` and no `SAGABUS_CONSOLE_TOKEN`) the console
is read-only: every POST is refused with 403. With one, the operator logs in once by
entering it; the console answers with a session cookie (HttpOnly, SameSite=Strict,
path /) holding a random session id signed with an HMAC keyed by the token. Every
form carries a CSRF field derived from that session (HMAC again), checked on each POST
together with the cookie: a page of another site can neither read the field nor send
the cookie. The token itself is never put in a page, a cookie or a log; changing it
ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request

TOKEN_VARIABLE = "SAGABUS_CONSOLE_TOKEN"  # noqa: S105  # the name, not a token
COOKIE = "sagabus_console_session"
CSRF_FIELD = "csrf"
MAX_FORM = 64 * 1024
"""Bytes of a form the console reads, at most."""


class Refused(Exception):
    """A POST the console will not carry out; `detail` says why (shown on a 403 page)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def configured_token(token: str | None) -> str | None:
    """`token`, else `SAGABUS_CONSOLE_TOKEN`; None (read-only) when neither is set."""
    chosen = token if token is not None else os.environ.get(TOKEN_VARIABLE)
    return chosen or None


@dataclass(frozen=True)
class Session:
    """What a page needs to know: whether actions exist, whether this browser is
    logged in, and the CSRF value its forms carry ("" when not logged in)."""

    actions: bool
    logged_in: bool
    csrf: str = ""


class Guard:
    """Signs and checks sessions and CSRF values with a key derived from `token`."""

    def __init__(self, token: str | None) -> None:
        self._token = token
        self._key = hashlib.sha256(b"sagabus-console:" + token.encode()).digest() if token else b""

    @property
    def actions(self) -> bool:
        return self._token is not None

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def token_matches(self, offered: str) -> bool:
        if self._token is None:
            return False
        return hmac.compare_digest(offered.encode(), self._token.encode())

    def new_session(self) -> str:
        """A cookie value for a freshly logged-in operator."""
        session_id = secrets.token_hex(16)
        return f"{session_id}.{self._sign('session', session_id)}"

    def _session_id(self, request: Request) -> str | None:
        if not self.actions:
            return None
        cookie = request.cookies.get(COOKIE, "")
        session_id, _, signature = cookie.partition(".")
        if not session_id or not hmac.compare_digest(
            signature.encode(), self._sign("session", session_id).encode()
        ):
            return None
        return session_id

    def session(self, request: Request) -> Session:
        session_id = self._session_id(request)
        if session_id is None:
            return Session(self.actions, False)
        return Session(True, True, self._sign("csrf", session_id))

    async def checked_form(self, request: Request) -> dict[str, str]:
        """The fields of a POSTed form, once the console allows actions, the session
        cookie is valid and the form's CSRF field matches it; else `Refused`."""
        if not self.actions:
            raise Refused(
                "this console is read-only: start it with SAGABUS_CONSOLE_TOKEN set "
                "to allow actions"
            )
        session_id = self._session_id(request)
        if session_id is None:
            raise Refused("log in with the console's token first")
        form = await read_form(request)
        expected = self._sign("csrf", session_id)
        if not hmac.compare_digest(form.get(CSRF_FIELD, "").encode(), expected.encode()):
            raise Refused("the form's CSRF check failed: reload the page and try again")
        return form


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the first value of each)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise Refused("actions take an url-encoded form")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise Refused("the form is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}
