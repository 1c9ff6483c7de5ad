"""The deliver stage: one outbound effect per entry, exactly once per outbound id.

Before a send the outbound id is marked ``sending``; after it, a receipt is stored. A
retry that finds a receipt skips the send; one that finds only the mark (a crash fell
between send and receipt) sends again flagged as a possible duplicate, never silently.
A channel whose sends land in Redis itself (the web chat) checks, sends and records the
receipt in one atomic step instead: no crash can fall between them. That step runs in the
lane commit, in one script call with the ack, which stands only if the receipt does: one
round trip per reply.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from common import metrics
from common.bus import ClaimedLane, Entry
from common.bus.writer import Emit, Precommit, Staged
from common.coalesce import Coalescer
from common.config import Config
from common.envelope import Envelope, derive_id, now_ms, payload_of
from common.errors import Misconfigured, PermanentError, RateLimited, RetryableError
from common.keys import Keys, Stage
from common.messages import AgentInput, OutboundMessage
from common.ports import Channel, ReceiptingChannel
from delivery.channels.ledger import RECEIPT_TTL_S
from delivery.guard import allowed

log = logging.getLogger("clawbus.delivery")

# what enables each channel that needs more than the install itself (the web chat always is)
ENABLED_BY = {
    "http": "CLAWBUS_WEBHOOK_URL and CLAWBUS_WEBHOOK_SECRET",
    "slack": "CLAWBUS_SLACK_BOT_TOKEN",
    "discord": "CLAWBUS_DISCORD_BOT_TOKEN",
    "telegram": "CLAWBUS_TELEGRAM_BOT_TOKEN",
}


class DeliverHandler:
    def __init__(
        self, redis: Redis, keys: Keys, config: Config, channels: dict[str, Channel]
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.config = config
        self.channels = channels
        # which channels send in the commit's round trip, decided once: a runtime
        # protocol check walks the protocol's members on every call
        self.receipting: dict[str, ReceiptingChannel] = {
            name: ch for name, ch in channels.items() if isinstance(ch, ReceiptingChannel)
        }
        self.batch = Coalescer(redis)  # receipts of lanes sending at once share round trips

    async def __call__(self, lane: ClaimedLane, entry: Entry) -> list[Emit] | Staged:
        env = entry.envelope
        assert env is not None
        try:
            msg = OutboundMessage.model_validate(env.payload)
        except ValidationError as exc:
            raise PermanentError(f"not an outbound message: {exc.error_count()} errors") from exc
        channel = self.channels.get(msg.destination.channel)
        if not allowed(self.config, msg.agent, msg.destination):
            return self._report(
                env, msg, f"agent {msg.agent} may not send to {msg.destination.lane}"
            )
        if channel is None:
            return self._disabled(msg)
        if msg.action == "typing":
            await self._send(channel, msg)
            return []
        if msg.action == "send" and (receipting := self.receipting.get(msg.destination.channel)):
            return self._staged_send(env, msg, receipting)
        outbound_id = msg.id

        def check(pipe: Pipeline) -> None:
            pipe.get(self.keys.receipt(outbound_id))
            pipe.set(self.keys.sending(outbound_id), b"1", nx=True, ex=RECEIPT_TTL_S)

        receipt, first = await self.batch.run(check)
        if receipt is not None:
            metrics.DELIVERIES.labels(channel.name, "duplicate_skipped").inc()
            return []
        if not first:
            msg = msg.model_copy(update={"possible_duplicate": True})
            metrics.DELIVERIES.labels(channel.name, "possible_duplicate").inc()
        try:
            sent = await self._send(channel, msg)
        except Misconfigured:
            # refused outright, so not sent: a replay once fixed is no possible duplicate
            await self.batch.run(lambda pipe: pipe.delete(self.keys.sending(outbound_id)))
            metrics.DELIVERY_ERRORS.labels(channel.name, "misconfigured").inc()
            raise
        except PermanentError as exc:
            metrics.DELIVERY_ERRORS.labels(channel.name, "permanent").inc()
            return self._report(env, msg, str(exc))
        receipt_value = orjson.dumps(sent.platform_ids)
        await self.batch.run(
            lambda pipe: pipe.set(self.keys.receipt(outbound_id), receipt_value, ex=RECEIPT_TTL_S)
        )
        self._delivered(env, msg, channel)
        return []

    def _staged_send(
        self, env: Envelope, msg: OutboundMessage, channel: ReceiptingChannel
    ) -> Staged:
        """A send that lands in Redis travels in the lane commit that acks it, ahead of the
        ack, which stands only if the receipt does (this send's or an earlier attempt's)."""
        receipt = self.keys.receipt(msg.id)
        started = time.monotonic()

        def recover(reply: Any) -> list[Emit]:
            if isinstance(reply, Exception):  # nothing acked: the lane backs off and retries
                metrics.DELIVERY_ERRORS.labels(channel.name, "retryable").inc()
                raise reply
            return []  # the send stands, only its ack failed: the ack is committed again

        def landed(reply: Any) -> None:
            metrics.DELIVERY_SECONDS.labels(channel.name).observe(time.monotonic() - started)
            if reply is None:
                metrics.DELIVERIES.labels(channel.name, "duplicate_skipped").inc()
            else:
                self._delivered(env, msg, channel)

        call = channel.send_call(msg, receipt, RECEIPT_TTL_S)
        return Staged([], Precommit(call, receipt, "", recover, landed))

    def _disabled(self, msg: OutboundMessage) -> list[Emit]:
        """A destination whose channel this replica cannot send to: a typing indicator is
        dropped (it is stale by the time the channel works); anything else is
        dead-lettered with what to set, so ``clawbus dlq replay`` sends it once the
        channel is enabled, instead of the reply being lost to a configuration gap."""
        name = msg.destination.channel
        if msg.action == "typing":
            metrics.DELIVERIES.labels(name, "skipped").inc()
            return []
        enable = ENABLED_BY.get(name, "its credentials")
        raise Misconfigured(
            f"channel {name} is not enabled on this delivery replica (set {enable}, "
            "then replay this dead letter)"
        )

    def _delivered(self, env: Envelope, msg: OutboundMessage, channel: Channel) -> None:
        metrics.DELIVERIES.labels(channel.name, "ok").inc()
        metrics.END_TO_END_SECONDS.labels(channel.name).observe(
            max(0.0, (now_ms() - env.accepted_ms) / 1000)
        )
        log.info(
            "delivered",
            extra={"channel": channel.name, "outbound_id": msg.id, "trace_id": env.trace_id},
        )

    async def _send(self, channel: Channel, msg: OutboundMessage):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        try:
            return await channel.send(msg)
        except RateLimited:
            metrics.DELIVERY_ERRORS.labels(channel.name, "rate_limited").inc()
            raise
        except RetryableError:
            metrics.DELIVERY_ERRORS.labels(channel.name, "retryable").inc()
            raise
        finally:
            metrics.DELIVERY_SECONDS.labels(channel.name).observe(time.monotonic() - started)

    def _report(self, env: Envelope, msg: OutboundMessage, reason: str) -> list[Emit]:
        """A permanent failure goes back to the agent's session as a silent system note."""
        log.warning(
            "delivery failed",
            extra={"outbound_id": msg.id, "reason": reason, "trace_id": env.trace_id},
        )
        note = AgentInput(
            kind="system",
            agent=msg.agent,
            session=msg.session,
            reply_to=msg.destination,
            text=f"Delivery of message {msg.id} to {msg.destination.lane} failed: {reason}",
            silent=True,
        )
        child = env.child(derive_id(env.id, "failed"), "agent_input", payload_of(note))
        return [Emit(Stage.AGENT, msg.session, child)]
