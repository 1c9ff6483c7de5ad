"""Telegram long polling (``getUpdates``) with the offset kept in Redis.

The offset moves past an update only after that update is published, and is stored in
``keys.kv("telegram:offset:<bot>")``: a restart, or another replica taking over the
lease, resumes exactly there. An update that can never be published (malformed) is
skipped; one that failed for a passing reason is tried again.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.errors import RetryableError
from ingest.channels.telegram.api import TelegramAPI, TelegramRefused
from ingest.channels.telegram.intake import ALLOWED_UPDATES, TelegramIntake

log = logging.getLogger("clawbus.ingest.telegram")


class TelegramPoller:
    def __init__(
        self,
        api: TelegramAPI,
        intake: TelegramIntake,
        redis: Redis,
        offset_key: str,
        *,
        timeout_s: int = 25,
    ) -> None:
        self.api = api
        self.intake = intake
        self.redis = redis
        self.offset_key = offset_key
        self.timeout_s = timeout_s

    async def run(self) -> None:
        """Poll until cancelled; raises only what the caller should back off from."""
        await self.intake.bot()
        try:
            await self.api.call("deleteWebhook", {"drop_pending_updates": False})
        except TelegramRefused as exc:
            log.warning("deleteWebhook refused", extra={"reason": exc.description})
        while True:
            await self.poll_once()

    async def poll_once(self) -> int:
        """One ``getUpdates`` round; returns how many updates were published."""
        raw = await self.redis.get(self.offset_key)
        offset = int(raw) if raw else 0
        try:
            updates = await self.api.call(
                "getUpdates",
                {"offset": offset, "timeout": self.timeout_s, "allowed_updates": ALLOWED_UPDATES},
                timeout_s=self.timeout_s + 10,
            )
        except TelegramRefused as exc:
            if exc.status == 409:
                self.intake.problems["telegram"] = f"polling blocked: {exc.description}"
            raise
        done = 0
        for update in updates:
            update_id = int(update["update_id"])
            try:
                await self.intake.handle(update)
                done += 1
            except (RetryableError, RedisError, OSError):
                raise
            except Exception as exc:
                log.error(
                    "telegram update skipped", extra={"update_id": update_id, "error": str(exc)}
                )
            await self.redis.set(self.offset_key, update_id + 1)
        if updates:
            self.intake.problems.pop("telegram", None)
        return done
