"""Keeps credentials out of logs and error messages.

Every URL the bus prints goes through `redact_url`; free text that may embed a URL
(exception messages from the AMQP or SQL drivers) goes through `redact_text`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):[^/\s]*@")
"""`scheme://user:password@`; the password runs to the last `@` before the host, as
URL parsers read it (a password with an unescaped `@` is still all masked)."""


def redact_url(url: str) -> str:
    """`url` with its password replaced by `***` (`amqp://guest:***@host/`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return redact_text(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{user}:{MASK}@{host}" + (f":{port}" if port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def redact_text(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` in it masked."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def redact_value(value: Any) -> Any:
    """`value` with `redact_text` applied to every string in it, however nested."""
    if isinstance(value, str):
        return redact_text(value) if "://" in value else value
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(redact_value(v) for v in value)
    return value
