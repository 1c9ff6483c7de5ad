"""Tokens and estimated cost per agent and model: Prometheus counters and Redis totals.

Every model call that was made is counted, including calls of a run that was later
retried: that is what was spent. Dollar figures are an estimate from list prices per
model family (per million tokens; cache writes at 1.25x and cache reads at 0.1x the input
price); models not in the table (local ones) count tokens but no dollars.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from redis.asyncio import Redis

from common import metrics
from common.keys import Keys
from common.ports import Usage

KINDS = ("input", "output", "cache_read", "cache_write")
COST_FIELD = "cost_micro_usd"


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # dollars per million tokens
    output: float

    def dollars(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_tokens * self.input * 1.25
            + usage.cache_read_tokens * self.input * 0.1
        ) / 1_000_000


# First match wins: newer and more specific families before the general ones.
PRICES: tuple[tuple[re.Pattern[str], Price], ...] = (
    (re.compile(r"opus-(4[-.][5-9]|[5-9])"), Price(5.0, 25.0)),
    (re.compile(r"opus"), Price(15.0, 75.0)),
    (re.compile(r"sonnet"), Price(3.0, 15.0)),
    (re.compile(r"haiku-(4|[5-9])"), Price(1.0, 5.0)),
    (re.compile(r"3[-.]5-haiku|haiku-3[-.]5"), Price(0.8, 4.0)),
    (re.compile(r"haiku"), Price(0.25, 1.25)),
)


@functools.lru_cache(maxsize=256)  # a few models, asked once per model call
def price_for(model: str) -> Price | None:
    return next((price for pattern, price in PRICES if pattern.search(model)), None)


def estimate_dollars(model: str, usage: Usage) -> float:
    price = price_for(model)
    return price.dollars(usage) if price else 0.0


class CostMeter:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def record(self, agent: str, model: str, usage: Usage) -> None:
        if not (
            usage.input_tokens
            or usage.output_tokens
            or usage.cache_read_tokens
            or usage.cache_write_tokens
        ):
            return  # nothing used, nothing costs (the offline provider reports no usage)
        counts = dict(
            zip(
                KINDS,
                (
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_tokens,
                    usage.cache_write_tokens,
                ),
                strict=True,
            )
        )
        dollars = estimate_dollars(model, usage)
        for kind, n in counts.items():
            if n:
                metrics.LLM_TOKENS.labels(agent, model, kind).inc(n)
        if dollars:
            metrics.LLM_COST.labels(agent, model).inc(dollars)
        counts[COST_FIELD] = round(dollars * 1_000_000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind, n in counts.items():
                if n:
                    pipe.hincrby(self.keys.llm_usage, f"{agent}|{model}|{kind}", n)
            await pipe.execute()

    async def totals(self, agent: str) -> dict[str, dict[str, int]]:
        """model -> kind -> count, for one agent."""
        raw: dict[bytes | str, bytes | str] = await self.redis.hgetall(self.keys.llm_usage)
        out: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            text = field.decode() if isinstance(field, bytes) else field
            name, model, kind = text.rsplit("|", 2)
            if name == agent:
                out.setdefault(model, {})[kind] = int(value)
        return out
