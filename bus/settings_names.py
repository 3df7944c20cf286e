"""The bus's settings as the environment names them, and the defaults of those the
project's configuration shares: apart from `bus.settings` (its pydantic model), so a
command that only reads its configuration loads no pydantic."""

from __future__ import annotations

DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"
DEFAULT_STORE_URL = "sqlite:///./sagabus.db"
DEFAULT_NAMESPACE = "sagabus"

ENV = {
    "amqp_url": "SAGABUS_AMQP_URL",
    "store": "SAGABUS_STORE",
    "prefetch": "SAGABUS_PREFETCH",
    "batch_max": "SAGABUS_BATCH_MAX",
    "queue_type": "SAGABUS_QUEUE_TYPE",
    "namespace": "SAGABUS_NAMESPACE",
    "log_format": "SAGABUS_LOG_FORMAT",
    "log_level": "SAGABUS_LOG_LEVEL",
    "inbox_retention": "SAGABUS_INBOX_RETENTION",
    "relay_interval": "SAGABUS_RELAY_INTERVAL",
    "max_body_bytes": "SAGABUS_MAX_BODY_BYTES",
    "tls_ca": "SAGABUS_TLS_CA",
    "tls_cert": "SAGABUS_TLS_CERT",
    "tls_key": "SAGABUS_TLS_KEY",
}
"""The environment variable of each setting that has one."""
