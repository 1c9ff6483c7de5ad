"""What the loopback vendor fakes share: an aiohttp server, a call log, scripted failures."""

from __future__ import annotations

import abc
import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=lambda: asyncio.get_running_loop().time())


@dataclass
class Scripted:
    """A canned answer given instead of the normal one (e.g. a 429), ``times`` times."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay_s: float = 0.0


class VendorFake(abc.ABC):
    """Subclasses add routes in ``routes()``; ``script(method, ...)`` queues failures."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.scripts: dict[tuple[str, str | None], list[Scripted]] = defaultdict(list)
        self.port = 0
        self._runner: web.AppRunner | None = None

    @abc.abstractmethod
    def routes(self, app: web.Application) -> None: ...

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        self.port = int(server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def script(self, method: str, answer: Scripted, *, target: str | None = None) -> None:
        """Answer the next call of ``method`` (to chat ``target``, if given) with ``answer``."""
        self.scripts[(method, target)].append(answer)

    async def scripted(self, method: str, target: str | None) -> web.Response | None:
        for key in ((method, target), (method, None)):
            queue = self.scripts.get(key)
            if queue:
                answer = queue[0]
                answer.times -= 1
                if answer.times <= 0:
                    queue.pop(0)
                if answer.delay_s:
                    await asyncio.sleep(answer.delay_s)
                return self.respond(answer.body, status=answer.status, headers=answer.headers)
        return None

    def respond(
        self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.json_response(body, status=status, headers=headers)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]
