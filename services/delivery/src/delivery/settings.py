from __future__ import annotations

from common.settings import Settings


class DeliverySettings(Settings):
    http_port: int = 9103
