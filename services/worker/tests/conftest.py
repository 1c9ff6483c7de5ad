# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Worker test fixtures: the fake Messages API and a worker harness around it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.support.agent_harness import Harness


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def harness(redis, keys, bus, fake_anthropic) -> AsyncIterator[Harness]:
    h = Harness(redis, keys, bus, fake_anthropic.url)
    yield h
    await h.aclose()
