"""Settings of the bus: flags, then environment (`SAGABUS_*`), then defaults.

`Settings.load(**flags)` is the one way in: flags that are None fall back to the
environment, and every value is checked here so that a wrong one fails at start-up
with one line (credentials redacted), not later in the middle of the night.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bus.durations import parse_duration
from bus.errors import ConfigurationError
from bus.observability.redact import redact_url
from bus.settings_names import DEFAULT_AMQP_URL, DEFAULT_NAMESPACE, DEFAULT_STORE_URL, ENV

QueueType = Literal["classic", "quorum"]
LogFormat = Literal["console", "json"]


_SECRET_FIELDS = frozenset({"amqp_url", "store"})


class Settings(BaseModel):
    """Everything the bus needs to know about its surroundings.

    amqp_url: RabbitMQ (`amqp://` or `amqps://`), default `amqp://guest:guest@localhost:5672/`.
    store: store URL, default `sqlite:///./sagabus.db`.
    prefetch: unacknowledged deliveries per consumer (RabbitMQ suggests 100-300), 200.
    batch_max: deliveries committed in one store transaction, at most, 100.
    queue_type: `classic` or `quorum` (for clusters).
    namespace: prefix of exchanges (`{namespace}.commands`); a namespace other than
        `sagabus` prefixes queue names too, so several buses can share one broker.
    log_format / log_level: `console` or `json`; `debug`, `info`, `warning`, `error`.
    inbox_retention: seconds an inbox row is kept (duplicates older than that are not
        recognised), 7 days.
    relay_interval: seconds between outbox sweeps when nothing notifies the relay, 1.
    cleanup_interval: seconds between inbox clean-ups, 1 hour.
    max_body_bytes: largest message body handled; a bigger one is dead-lettered unread,
        1 MiB.
    tls_ca / tls_cert / tls_key: for `amqps://`, PEM files of the CA to trust, of the
        client certificate and of its key (the key may sit in the certificate's file).
        They are folded into `amqp_url` as the query parameters the AMQP driver reads
        (`cafile`, `certfile`, `keyfile`), so every connection made from the settings
        uses them; they may also be written in the URL directly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amqp_url: str = DEFAULT_AMQP_URL
    store: str = DEFAULT_STORE_URL
    prefetch: int = Field(default=200, ge=1, le=65535)
    batch_max: int = Field(default=100, ge=1)
    queue_type: QueueType = "classic"
    namespace: str = Field(default=DEFAULT_NAMESPACE, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    log_format: LogFormat = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    inbox_retention: float = Field(default=7 * 86_400, gt=0)
    relay_interval: float = Field(default=1.0, gt=0)
    cleanup_interval: float = Field(default=3_600.0, gt=0)
    max_body_bytes: int = Field(default=1 << 20, ge=1)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @model_validator(mode="after")
    def _tls(self) -> Settings:
        given = {"cafile": self.tls_ca, "certfile": self.tls_cert, "keyfile": self.tls_key}
        wanted = {k: v for k, v in given.items() if v}
        if not wanted:
            return self
        if urlsplit(self.amqp_url).scheme != "amqps":
            raise ValueError("TLS files are set but the AMQP URL is not amqps://")
        if self.tls_key and not self.tls_cert:
            raise ValueError("a TLS key needs its certificate (SAGABUS_TLS_CERT)")
        for option, path in wanted.items():
            if not Path(path).is_file():
                raise ValueError(f"TLS {option} {path!r} is not a readable file")
        object.__setattr__(self, "amqp_url", with_tls(self.amqp_url, wanted))
        return self

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url(cls, value: str) -> str:
        check_amqp_url(value)
        return value

    @field_validator("inbox_retention", "relay_interval", "cleanup_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Flags (None means "not given") over `env` (default `os.environ`) over defaults."""
        environ = os.environ if env is None else env
        values: dict[str, Any] = {
            name: environ[var] for name, var in ENV.items() if environ.get(var, "") != ""
        }
        values.update({k: v for k, v in flags.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from None

    @property
    def effective_batch_max(self) -> int:
        """A batch never exceeds the prefetch: the broker would not send more."""
        return min(self.batch_max, self.prefetch)


def check_amqp_url(url: str) -> None:
    """Raises `ConfigurationError` (URL redacted) unless `url` is a usable AMQP URL."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"malformed AMQP URL {shown}: {exc}") from None
    if parts.scheme not in ("amqp", "amqps"):
        raise ConfigurationError(
            f"malformed AMQP URL {shown}: the scheme must be amqp:// or amqps://"
        )
    if not parts.hostname:
        raise ConfigurationError(f"malformed AMQP URL {shown}: no host")
    if port == 0:
        raise ConfigurationError(f"malformed AMQP URL {shown}: port 0")


def with_tls(url: str, files: Mapping[str, str]) -> str:
    """`url` with the TLS `files` (`cafile`, `certfile`, `keyfile`) in its query, over
    any of the same name already there."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in files]
    query.extend(files.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _describe(exc: ValidationError) -> str:
    """One line per wrong setting, never echoing a secret value back."""
    parts = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        if name in _SECRET_FIELDS or not err["loc"]:
            # a whole-model check sees every value, the secret ones too: never echo them
            message = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            message = f"{err['msg']} (got {err.get('input')!r})"
        var = ENV.get(name)
        where = f"{name} ({var})" if var else name
        parts.append(f"{where}: {message}")
    return "invalid settings: " + "; ".join(parts)
