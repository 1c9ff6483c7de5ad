# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The agent on real lanes: messages during a run, typing, delivery's own check of
destinations, and agent-to-agent messages under the loop cap."""

from __future__ import annotations

import copy

from common.bus.writer import Emit
from common.config import Config
from common.envelope import now_ms
from common.keys import Stage
from common.messages import AgentInput, DeliveryReceipt, Destination, OutboundMessage
from delivery.handler import DeliverHandler
from tests.fakes.anthropic import reply, text, tool_use
from tests.support.agent_harness import CONFIG, eventually, texts
from worker.turn import HOPS


class RecordingChannel:
    name = "web"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def start(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.sent.append(message)
        return DeliveryReceipt(platform_ids=[f"p{len(self.sent)}"])

    async def aclose(self) -> None:
        return None


async def test_messages_during_a_run_form_the_next_turn_in_order(harness, fake_anthropic):
    fake_anthropic.push(reply(text("first answer"), delay_s=1.0), reply(text("second answer")))
    await harness.say("alpha")
    async with harness.consuming():
        await eventually(lambda: _count(fake_anthropic, 1))
        await harness.say("bravo")
        await harness.say("charlie")
        await eventually(lambda: _sent(harness, 2))
    first, second = fake_anthropic.requests
    assert "alpha" in texts(first) and "bravo" not in texts(first)
    newest = second["messages"][-1]["content"][0]["text"]
    assert "alpha" not in newest
    assert newest.index("bravo") < newest.index("charlie")
    assert [o.text for o in await harness.sent()] == ["first answer", "second answer"]
    assert len(await harness.history()) == 2


async def _count(fake, n: int) -> bool:
    return len(fake.requests) >= n


async def _sent(harness, n: int) -> bool:
    return len(await harness.sent()) >= n


async def test_a_run_shows_typing_first(harness, fake_anthropic):
    fake_anthropic.push(reply(text("hi")))
    await harness.say("hello")
    await harness.step()
    envs = await harness.entries(Stage.DELIVER, "web:room")
    assert [OutboundMessage.model_validate(e.payload).action for e in envs] == ["typing", "send"]


async def test_only_a_slow_run_shows_typing(harness, fake_anthropic):
    harness.runtime.presence.delay_s = 0.5
    fake_anthropic.push(reply(text("quick")))
    await harness.say("hello")
    await harness.step()
    envs = await harness.entries(Stage.DELIVER, "web:room")
    assert [OutboundMessage.model_validate(e.payload).action for e in envs] == ["send"]
    fake_anthropic.push(reply(text("slow"), delay_s=1.0))
    await harness.say("again")
    await harness.step()
    envs = await harness.entries(Stage.DELIVER, "web:room")
    assert [OutboundMessage.model_validate(e.payload).action for e in envs] == [
        "send",
        "typing",
        "send",
    ]


async def test_delivery_refuses_a_destination_its_config_does_not_allow(
    harness, fake_anthropic, redis, keys
):
    fake_anthropic.push(
        reply(tool_use("send_message", {"to": "ops", "text": "the secret plan"})),
        reply(text("Sent it to ops.")),
    )
    await harness.say("tell ops the plan")
    await harness.step()
    # delivery runs a configuration in which the agent may not send to ops
    narrower = copy.deepcopy(CONFIG)
    del narrower["agents"]["assistant"]["destinations"]["ops"]
    narrower["chats"]["web"]["chat_id"] = "room"
    channel = RecordingChannel()
    deliver = DeliverHandler(redis, keys, Config.model_validate(narrower), {"web": channel})
    for _ in range(2):  # the two deliver lanes: ops-room and room
        lane = await harness.claim(Stage.DELIVER)
        emits: list[Emit] = []
        for entry in lane.entries:
            out = await deliver(lane, entry)
            assert isinstance(out, list)  # a channel outside Redis sends in the handler
            emits += out
        await harness.commit(lane, emits)

    assert [m.text for m in channel.sent if m.action == "send"] == ["Sent it to ops."]
    # the refusal came back to the session as a silent note: history, no model call
    await harness.step()
    assert len(fake_anthropic.requests) == 2
    [note] = (await harness.history())[-1].messages
    assert "may not send to web:ops-room" in (note.content[0].text or "")


async def test_agents_talk_through_their_lanes_and_answers_come_back(harness, fake_anthropic):
    fake_anthropic.push(
        reply(tool_use("send_message", {"to": "helper", "text": "what is 6 x 7?"})),
        reply(text("I asked helper.")),
        reply(text("42")),  # helper's turn
        reply(text("Helper says 42.")),  # assistant, back in the chat's session
    )
    await harness.say("ask helper what 6 x 7 is")
    await harness.step()
    [asked] = await harness.entries(Stage.AGENT, "helper|agent:assistant")
    assert asked.payload[HOPS] == 1
    await harness.step()  # helper answers; its answer goes to the asking session
    [answer] = await harness.entries(Stage.AGENT, "assistant|web:room")
    inp = AgentInput.model_validate(answer.payload)
    assert inp.reply_to == Destination(channel="web", chat_id="room")
    assert answer.payload[HOPS] == 2
    await harness.step()
    assert [o.text for o in await harness.sent()] == ["I asked helper.", "Helper says 42."]
    helper_prompt = texts(fake_anthropic.requests[2])
    assert 'chat="agent:assistant"' in helper_prompt
    assert 'answer_to="agent:assistant"' in helper_prompt
    assert await harness.sent("helper|agent:assistant", action="typing") == []


async def test_agent_ping_pong_stops_at_the_loop_cap(harness, fake_anthropic):
    # helper and assistant keep answering each other; the cap is 3 messages in a row
    fake_anthropic.fallback = lambda body: reply(text("and what do you think?"))
    await harness.publish(
        AgentInput(
            kind="message",
            agent="assistant",
            session="assistant|agent:helper",
            reply_to=Destination(channel="agent", chat_id="helper"),
            message=_agent_message("helper", "hello assistant"),
        )
    )
    hops = []
    for _ in range(4):
        emits = await harness.step()
        hops += [e.envelope.payload[HOPS] for e in emits if e.stage == Stage.AGENT]
    assert hops == [1, 2, 3]  # the fourth answer in a row was not sent
    assert len(fake_anthropic.requests) == 4
    assert await harness.bus.claim(Stage.AGENT, 1, 50) == []


def _agent_message(sender: str, body: str):
    from common.messages import InboundMessage, Sender

    return InboundMessage(
        channel="agent",
        chat_id=sender,
        message_id=f"m-{body}",
        sender=Sender(id=sender, is_bot=True),
        text=body,
        sent_ms=now_ms(),
        is_dm=True,
    )
