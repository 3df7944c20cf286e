"""Structured logs with structlog: console lines for people, JSON lines for machines.

The pipeline binds `endpoint`, `message_id`, `correlation_id` and `type` with
`structlog.contextvars` around each delivery, so every line a handler writes while it
runs carries them without the handler's help. A processor masks credentials in every
value, whatever logged it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from bus.observability.redact import redact_value

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


class log_context:
    """Binds `values` in `structlog.contextvars` while open, then puts back what each
    key held before: structlog's `bound_contextvars` with the tokens of `ContextVar.set`
    (no scan of the whole context on entry, no second bind on exit). Enter it once, in
    the task (context) that leaves it."""

    __slots__ = ("_tokens", "_values")

    def __init__(self, **values: Any) -> None:
        self._values = values
        self._tokens: Any = None

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self._values)

    def __exit__(self, *_: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def get_logger(name: str) -> Any:
    """A structlog logger named after the component (`sagabus.pipeline`, ...)."""
    return structlog.get_logger(name)


def redact_credentials(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        event[key] = redact_value(value)
    return event


def _json_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def configure_logging(log_format: str = "console", level: str = "info") -> None:
    """Sets up structlog (and the stdlib loggers of aio-pika and friends) once per
    process; `log_format` is `console` or `json`."""
    threshold = LEVELS.get(level, logging.INFO)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    # tracebacks become text before redaction, in both formats: a rich traceback would
    # print the locals of every frame, connection URLs with their passwords among them
    exceptions: list[Processor] = [structlog.processors.format_exc_info]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            *exceptions,
            redact_credentials,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # aio-pika and aiormq log through the standard library; route them the same way,
    # quieter, so a reconnect storm does not bury our own lines.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *exceptions,
                redact_credentials,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(threshold, logging.WARNING))
    connection_log = logging.getLogger("aiormq.connection")
    if _drop_connect_errors not in connection_log.filters:
        connection_log.addFilter(_drop_connect_errors)


def _drop_connect_errors(record: logging.LogRecord) -> bool:
    """aiormq logs every failed connection attempt; the transport reports them itself,
    once, with the URL redacted (`BrokerUnavailable`, reconnect warnings)."""
    return not str(record.msg).startswith("error when creating transport")
