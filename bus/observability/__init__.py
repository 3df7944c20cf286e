"""Observability: seeing what the bus does.

Structured logging with credentials redacted, Prometheus metrics, OpenTelemetry tracing,
the message log and its sampler, the readiness verdicts (health.py), and the probes
`/healthz`, `/readyz`, `/metrics` as Starlette routes (probes.py) served by uvicorn on
the caller's loop (web_server.py). May import the wire (`bus.wire`) for envelope types;
the unit of work and the stores only for type hints.
"""
