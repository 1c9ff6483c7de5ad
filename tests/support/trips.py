"""Counting a lane bus's round trips to Redis."""

from __future__ import annotations

from typing import Any

import pytest

from common.bus import LaneBus


class RoundTrips:
    """Counts the pipelines ``bus`` sends from the moment it is made."""

    def __init__(self, bus: LaneBus, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        send = bus._send

        async def counting(*args: Any, **kwargs: Any) -> list[Any]:
            self.count += 1
            return await send(*args, **kwargs)

        monkeypatch.setattr(bus, "_send", counting)
