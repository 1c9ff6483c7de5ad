from __future__ import annotations

from common.settings import Settings


class IngestSettings(Settings):
    http_port: int = 8080
