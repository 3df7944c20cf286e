"""The web console: sagas on their graphs with live counts, instances with their
history and timers, dead letters by reason. Read-only.

Needs the `console` extra (Jinja2; Starlette and uvicorn are core dependencies, for
the daemon's probes); htmx and mermaid ship in `static/` with their licences, so the
pages load nothing from the internet.
Serve it with `sagabus console`, or build it with `create_app(store, machines)`.
"""

from __future__ import annotations

from sagabus.console.app import create_app

__all__ = ["create_app"]
