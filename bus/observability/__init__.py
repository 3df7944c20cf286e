"""Observability: seeing what the bus does.

Structured logging with credentials redacted, Prometheus metrics, OpenTelemetry tracing,
the message log and its sampler, and the health/readiness probe server. May import the
wire (`bus.wire`) for envelope types; never the unit of work or the stores.
"""
