"""How the effects of a saga step read to people, in `sagabus status` and the console.

A history row keeps each effect as its JSON (`effect.to_json()` in saga_dsl/effects.py);
this module reads only that JSON, so the CLI does not load the saga language for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

TIMER_EFFECTS = frozenset({"arm_timer", "cancel_timer"})
"""Left out of a history's "sent / published" (`status --json` and the console's
timers list show them): the column shows messages."""


def effect_text(effect: Mapping[str, Any]) -> str:
    """`send ProcessPayment`, `publish OrderCancelled (undo reserving)`, `parked: why`."""
    kind = effect.get("effect")
    if kind in ("send", "publish"):
        undo = f" (undo {effect.get('compensates')})" if effect.get("compensates") else ""
        return f"{kind} {effect.get('type')}{undo}"
    if kind == "finished":
        return f"finished: {effect.get('outcome')}"
    if kind == "parked":
        return f"parked: {effect.get('reason')}"
    return orjson.dumps(dict(effect)).decode()


def sent_and_published(effects: Sequence[Mapping[str, Any]]) -> list[str]:
    """The texts of a step's effects, its timers left out."""
    return [effect_text(e) for e in effects if e.get("effect") not in TIMER_EFFECTS]
