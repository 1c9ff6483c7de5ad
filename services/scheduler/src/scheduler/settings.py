from __future__ import annotations

from common.settings import Settings


class SchedulerSettings(Settings):
    http_port: int = 9104
    tick_s: float = 0.5
    firing_timeout_s: float = 30.0
