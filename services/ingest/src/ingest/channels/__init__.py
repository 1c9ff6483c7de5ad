"""Platform channels on the inbound side: webhooks mounted on the app, and long-lived
connections (run under a leader lease). Each platform module has a pure function from the
platform's event to an ``InboundMessage``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from common.context import Context
from fastapi import FastAPI

from ingest.publisher import Publisher

Runner = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Mounted:
    """What the enabled channels added: background runners and readiness problems."""

    runners: list[Runner] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


def mount(app: FastAPI, ctx: Context, publisher: Publisher) -> Mounted:
    """Enable every platform channel whose credentials are configured."""
    return Mounted()
