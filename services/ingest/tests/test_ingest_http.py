# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The generic HTTP channel's answers: accepted once and durably, every bad request told
why, and a Redis that is down refused with Retry-After, not a hang or a lost message."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from clawbus.embedded import EmbeddedRedis
from common.context import Context
from common.envelope import decode
from common.keys import Stage
from ingest.__main__ import build
from ingest.settings import IngestSettings

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def message(**over) -> dict[str, object]:
    return {"conversation_id": "order-42", "sender": {"id": "alice"}, "text": "hi", **over}


@contextlib.asynccontextmanager
async def ingest(
    url: str, namespace: str, **over
) -> AsyncIterator[tuple[httpx.AsyncClient, Context]]:
    fields = {"redis_url": url, "namespace": namespace, "ingest_token": TOKEN}
    settings = IngestSettings.model_validate({**fields, "max_message_bytes": 1000, **over})
    app, ctx, _, _ = build(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        try:
            yield client, ctx
        finally:
            await ctx.aclose()


async def test_a_message_is_in_its_route_lane_when_accepted_and_only_once(
    redis_server, namespace, bus
):
    async with ingest(redis_server.url, namespace, partitions=4) as (client, _):
        first = await client.post("/v1/messages", json=message(message_id="evt-1"), headers=AUTH)
        again = await client.post("/v1/messages", json=message(message_id="evt-1"), headers=AUTH)
        other = await client.post("/v1/messages", json=message(message_id="evt-2"), headers=AUTH)
    assert first.status_code == again.status_code == other.status_code == 202
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert first.json()["message_id"] == again.json()["message_id"]
    assert other.json()["message_id"] != first.json()["message_id"]
    [lane] = await bus.claim(Stage.ROUTE, 10, 10)
    assert lane.lane == "http:order-42"
    ids = [decode(e.raw).id for e in lane.entries]
    assert ids == [first.json()["message_id"], other.json()["message_id"]]


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (json.dumps(message()), {}, 401, "missing or wrong bearer token"),
        (json.dumps(message()), {"Authorization": "Bearer nope"}, 401, "wrong bearer token"),
        ('{"conversation_id":', AUTH, 422, "Invalid JSON"),
        ("[1, 2]", AUTH, 422, "body: Input should be an object"),
        (json.dumps({"sender": {"id": "a"}, "text": "hi"}), AUTH, 422, "conversation_id: Field"),
        (json.dumps(message(text="")), AUTH, 422, "text: String should have at least 1"),
        (json.dumps(message(sender="bob")), AUTH, 422, "sender: Input should be"),
        (json.dumps(message(text="x" * 2000)), AUTH, 413, "over the limit of 1000"),
    ],
)
async def test_a_bad_request_is_told_why_and_nothing_is_accepted(
    redis_server, namespace, bus, body, headers, status, reason
):
    async with ingest(redis_server.url, namespace, partitions=4) as (client, _):
        r = await client.post(
            "/v1/messages",
            content=body,
            headers={"content-type": "application/json", **headers},
        )
    assert r.status_code == status
    assert reason in r.json()["error"]
    assert (await bus.stats(Stage.ROUTE)).backlog == 0


async def test_a_body_without_a_length_is_cut_at_the_limit(redis_server, namespace, bus):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 100

    async with ingest(redis_server.url, namespace, partitions=4) as (client, _):
        r = await client.post("/v1/messages", content=chunks(), headers=AUTH)
    assert r.status_code == 413
    assert "over the limit of 1000 bytes" in r.json()["error"]
    assert (await bus.stats(Stage.ROUTE)).backlog == 0


async def test_the_endpoint_is_off_without_a_token(redis_server, namespace):
    async with ingest(redis_server.url, namespace, ingest_token=None) as (client, _):
        r = await client.post("/v1/messages", json=message(), headers=AUTH)
    assert r.status_code == 403
    assert "CLAWBUS_INGEST_TOKEN" in r.json()["error"]


async def test_a_dead_redis_is_refused_with_retry_after_and_the_retry_lands(tmp_path, namespace):
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always")
    server.start()
    try:
        async with ingest(server.url, namespace) as (client, ctx):
            ok = await client.post("/v1/messages", json=message(message_id="a"), headers=AUTH)
            assert ok.status_code == 202
            server.kill()
            down = await client.post("/v1/messages", json=message(message_id="b"), headers=AUTH)
            assert down.status_code == 503
            assert int(down.headers["retry-after"]) >= 1
            assert "not accepted" in down.json()["error"]
            server.start()
            retried = None
            for _ in range(50):  # the client reconnects on its own
                retried = await client.post(
                    "/v1/messages", json=message(message_id="b"), headers=AUTH
                )
                if retried.status_code == 202:
                    break
            assert retried is not None and retried.status_code == 202
            assert retried.json()["duplicate"] is False
            # both are there: the one accepted before the crash survived it (AOF always)
            stats = await ctx.bus.stats(Stage.ROUTE)
            assert stats.backlog == 2
    finally:
        server.stop()
