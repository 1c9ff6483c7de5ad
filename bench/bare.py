"""The bare ceiling: plain Redis Streams hops and a FastAPI endpoint that only XADDs.

python bench/bare.py hop IN OUT URL       one hop: XREADGROUP (COUNT 100) -> XADD + XACK
python bench/bare.py http PORT URL        POST /v1/messages -> XADD, answers 202
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from fastapi import FastAPI, Request, Response
from redis.asyncio import Redis

GROUP = "g"


async def hop(src: str, dst: str, url: str) -> None:
    redis = Redis.from_url(url)
    try:
        await redis.xgroup_create(src, GROUP, id="0", mkstream=True)
    except Exception as exc:  # BUSYGROUP: another run made it
        if "BUSYGROUP" not in str(exc):
            raise
    while True:
        got = await redis.xreadgroup(GROUP, "c", {src: ">"}, count=100, block=1000)
        if not got:
            continue
        _, entries = got[0]
        async with redis.pipeline(transaction=False) as pipe:
            for _, fields in entries:
                pipe.xadd(dst, fields)
            pipe.xack(src, GROUP, *[i for i, _ in entries])
            await pipe.execute()


def http(port: int, url: str) -> None:
    app = FastAPI()
    redis = Redis.from_url(url)

    @app.post("/v1/messages", status_code=202)
    async def post(request: Request) -> Response:
        body = await request.body()
        entry = await redis.xadd("bare:http", {"e": body})
        return Response(
            b'{"message_id":"%s"}' % entry, status_code=202, media_type="application/json"
        )

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    if sys.argv[1] == "hop":
        asyncio.run(hop(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        http(int(sys.argv[2]), sys.argv[3])
