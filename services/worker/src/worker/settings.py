from __future__ import annotations

from common.settings import Settings


class WorkerSettings(Settings):
    http_port: int = 9102
