# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The web chat's socket protocol without a browser: who may connect, what a bad frame is
told, and that a message is acknowledged only once it is in its route lane, once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from clawbus.embedded import free_port
from common.envelope import decode
from common.keys import Stage
from ingest.__main__ import build
from ingest.settings import IngestSettings

TOKEN = "chat-token"


@contextlib.asynccontextmanager
async def serving(url: str, namespace: str, token: str | None = TOKEN) -> AsyncIterator[str]:
    settings = IngestSettings.model_validate(
        {
            "redis_url": url,
            "namespace": namespace,
            "webchat_token": token,
            "max_message_bytes": 100,
            "partitions": 4,
        }
    )
    app, ctx, _, hub = build(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(server.serve()), asyncio.create_task(hub.tail(stop))]
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await ctx.aclose()


async def frame(ws, kind: str | None = None) -> dict[str, object]:
    """The next frame (of ``kind``: the socket also carries the conversation's events)."""
    while True:
        got: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if kind is None or got["type"] == kind:
            return got


@pytest.mark.parametrize(
    ("query", "code", "reason"),
    [
        ("conversation=c1", 4401, "missing or wrong token"),
        ("token=nope&conversation=c1", 4401, "missing or wrong token"),
        (f"token={TOKEN}&conversation=a%20b", 4400, "conversation and user must be"),
        (f"token={TOKEN}&user={'u' * 65}", 4400, "conversation and user must be"),
    ],
)
async def test_a_socket_that_may_not_talk_is_closed_with_why(
    redis_server, namespace, query, code, reason
):
    async with (
        serving(redis_server.url, namespace) as base,
        websockets.connect(f"{base}?{query}") as ws,
    ):
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert closed.value.rcvd.reason.startswith(reason)


async def test_bad_frames_are_told_why_and_a_message_is_acked_once_in_its_lane(
    redis_server, namespace, bus
):
    async with (
        serving(redis_server.url, namespace) as base,
        websockets.connect(f"{base}?token={TOKEN}&conversation=c1&user=ann") as ws,
    ):
        assert (await frame(ws))["type"] == "history"
        for bad in ("not json", "[1, 2]", '"text"', '{"no": "text"}'):
            await ws.send(bad)
            assert await frame(ws) == {
                "type": "error",
                "error": "frames must be JSON objects with a text field",
                "client_id": "",
            }
        await ws.send(json.dumps({"text": "x" * 101, "client_id": "big"}))
        assert (await frame(ws))["error"] == "message is over 100 bytes"
        acks = []
        for _ in range(2):  # the browser resends after a reconnect: the same client id
            await ws.send(json.dumps({"text": "hello", "client_id": "k1"}))
            acks.append(await frame(ws, "ack"))
    assert acks[0] == acks[1]
    assert acks[0]["type"] == "ack" and acks[0]["client_id"] == "k1"
    [lane] = await bus.claim(Stage.ROUTE, 10, 10)
    assert lane.lane == "web:c1"
    assert [decode(e.raw).id for e in lane.entries] == [acks[0]["message_id"]]


async def test_without_a_token_the_web_chat_is_off_not_open(redis_server, namespace):
    async with (
        serving(redis_server.url, namespace, token=None) as base,
        websockets.connect(f"{base}?conversation=c1") as ws,
    ):
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        http = base.replace("ws://", "http://").removesuffix("/ws")
        async with httpx.AsyncClient() as client:
            listed = await client.get(f"{http}/webchat/conversations")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert closed.value.rcvd.reason == "the web chat is off: set CLAWBUS_WEBCHAT_TOKEN"
    assert listed.status_code == 403
    assert listed.json()["error"] == "the web chat is off: set CLAWBUS_WEBCHAT_TOKEN"
