"""The daemon's event loop: uvloop when installed (the `fast` extra), asyncio's on
request, and a clear error for a setting that cannot be honoured."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bus import eventloop
from bus.errors import ConfigurationError


async def _which() -> str:
    await asyncio.sleep(0)
    return eventloop.running()


def test_auto_picks_uvloop_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fast extra is part of `make install` (the dev extra names it)
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.chosen() == "uvloop"
    assert eventloop.run(_which()) == "uvloop"


def test_asyncio_can_be_asked_for_even_with_uvloop_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert eventloop.chosen() == "asyncio"
    assert eventloop.run(_which()) == "asyncio"
    assert eventloop.run(_which(), loop="asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails as if not installed
    assert eventloop.chosen("auto") == "asyncio"
    assert eventloop.run(_which()) == "asyncio"
    with pytest.raises(ConfigurationError, match=r"sagabus\[fast\]"):
        eventloop.chosen("uvloop")


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="auto, uvloop or asyncio"):
        eventloop.chosen("trio")
