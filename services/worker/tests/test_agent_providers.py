# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Providers other than Anthropic: an OpenAI-compatible endpoint, and the offline echo."""

from __future__ import annotations

import copy

import pytest

from common.errors import RateLimited
from common.ports import ContentBlock, LLMRequest, ModelMessage
from tests.fakes.openai import FakeOpenAI, completion
from tests.support.agent_harness import CONFIG, Harness
from worker.llm.echo import LABEL
from worker.llm.errors import ModelRejected
from worker.llm.openai import OpenAICompatibleLLM


@pytest.fixture
async def fake_openai():
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


def _config(**agent):
    config = copy.deepcopy(CONFIG)
    config["agents"]["assistant"].update(agent)
    return config


async def test_local_model_runs_the_tool_loop(redis, keys, bus, fake_openai, fake_anthropic):
    config = _config(provider="openai", base_url=fake_openai.url, model="llama3.2")
    h = Harness(redis, keys, bus, fake_anthropic.url, config=config)
    fake_openai.push(completion(None, ("update_memory", {"mode": "append", "text": "tea"})))
    fake_openai.push(completion("Noted, you like tea.", cached=20))
    await h.say("I like tea")
    await h.step()
    await h.aclose()

    assert fake_anthropic.requests == []
    first, second = fake_openai.requests
    assert first["model"] == "llama3.2" and first["messages"][0]["role"] == "system"
    assert "You are Assistant" in first["messages"][0]["content"]
    names = {t["function"]["name"] for t in first["tools"]}
    assert "update_memory" in names and first["tool_choice"] == "auto"
    call = second["messages"][-2]["tool_calls"][0]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": "memory updated; it now has 3 characters",
    }
    assert [o.text for o in await h.sent()] == ["Noted, you like tea."]
    assert await h.memory() == "tea"


async def test_local_model_errors_map_like_anthropics(fake_openai):
    llm = OpenAICompatibleLLM(fake_openai.url)
    request = LLMRequest(
        model="llama3.2",
        system="be brief",
        messages=[ModelMessage(role="user", content=[ContentBlock(type="text", text="hi")])],
    )
    fake_openai.push({"error": {"message": "slow down"}}, 429, {"retry-after": "3"})
    with pytest.raises(RateLimited) as busy:
        await llm.complete(request)
    assert busy.value.retry_after == 3
    fake_openai.push({"error": {"message": "model 'x' not found"}}, 404)
    with pytest.raises(ModelRejected, match="not found"):
        await llm.complete(request)
    await llm.aclose()


async def test_echo_provider_answers_offline_and_says_so(redis, keys, bus, fake_anthropic):
    h = Harness(redis, keys, bus, fake_anthropic.url, config=_config(provider="echo"))
    await h.say("context only", silent=True)
    await h.step()
    await h.say("ping <3")
    await h.say("pong")
    await h.step()
    await h.aclose()
    assert [o.text for o in await h.sent()] == [f"{LABEL} ping <3\npong"]
    assert fake_anthropic.requests == []
