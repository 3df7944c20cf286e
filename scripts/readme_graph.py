"""Rewrites the Mermaid graph embedded in README.md from sagas/order_processing.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import handlers.messages  # noqa: F401  (registers the contracts the saga names)
import saga_dsl
from bus.wire.contracts import registry
from saga_dsl.graph import render

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    result = saga_dsl.load(ROOT / "sagas" / "order_processing.yaml", registry=registry)
    if result.definition is None:
        raise SystemExit("\n".join(str(d) for d in result.diagnostics))
    drawn = render(saga_dsl.compile(result.definition), "mermaid")
    readme = ROOT / "README.md"
    text = re.sub(
        r"```mermaid\n.*?```", lambda _: f"```mermaid\n{drawn}```", readme.read_text(), flags=re.S
    )
    readme.write_text(text)


if __name__ == "__main__":
    main()
