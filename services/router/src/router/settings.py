from __future__ import annotations

from common.settings import Settings


class RouterSettings(Settings):
    http_port: int = 9101
