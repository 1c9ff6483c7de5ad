"""The offline provider: answers with the user's own words, clearly labelled.

It lets clawbus run end to end with no API key; ``delay_s`` imitates model latency for
load tests. It never calls tools.
"""

from __future__ import annotations

import asyncio
import html
import re

from common.ports import ContentBlock, LLMRequest, LLMResponse, Usage

LABEL = "[echo provider: no model configured]"
TAG = re.compile(r"<[^>]+>")
# A body holds no "<": the prompt escapes every text it renders. Matching up to the next
# "<" instead of a lazy match against a back-reference is five times faster on a turn.
INPUT = re.compile(r"<(message|task)\b([^>]*)>([^<]*)</(?:message|task)>")


def said(rendered: str) -> str:
    """The texts of a rendered turn's inputs, one per line (silent context left out)."""
    bodies = [body for _, attrs, body in INPUT.findall(rendered) if 'silent="true"' not in attrs]
    text = "\n".join(bodies) if bodies else TAG.sub("", rendered)
    return html.unescape(text).strip()


class EchoLLM:
    name = "echo"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    async def complete(self, request: LLMRequest) -> LLMResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        last = request.messages[-1] if request.messages else None
        texts = [b.text or "" for b in (last.content if last else []) if b.type == "text"]
        echoed = said(texts[-1]) if texts else ""
        return LLMResponse(
            content=[ContentBlock(type="text", text=f"{LABEL} {echoed}".strip())],
            stop_reason="end_turn",
            usage=Usage(),
            model="echo",
        )

    async def aclose(self) -> None:
        return None
