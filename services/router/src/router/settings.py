from __future__ import annotations

from pydantic import Field

from common.settings import Settings


class RouterSettings(Settings):
    http_port: int = 9101
    # Under load the router yields the cores to the stages after it: see
    # ``lifecycle.yield_cpu``.
    nice: int = Field(default=10, ge=0, le=19)
