"""The parsed-history store: a history that grew is extended, one that changed is read afresh,
and either way the run sees what a fresh parse of the list would give."""

from __future__ import annotations

import pytest

from common.ports import ContentBlock, ModelMessage
from worker.history import (
    History,
    HistoryHeld,
    HistoryItem,
    HistoryStore,
    HistoryWrite,
    merge_roles,
)


def said(role: str, text: str) -> ModelMessage:
    return ModelMessage(role=role, content=[ContentBlock(type="text", text=text)])


def turn(n: int, *, answered: bool = True) -> HistoryItem:
    messages = [said("user", f"question {n}")]
    if answered:
        messages.append(said("assistant", f"answer {n}"))
    return HistoryItem.turn(f"run{n}", n, messages)


def encoded(items: list[HistoryItem]) -> list[bytes]:
    return [i.model_dump_json().encode() for i in items]


def same(a: History, b: History) -> None:
    assert a.items == b.items
    assert a.turns == b.turns
    assert a.tokens() == b.tokens()
    assert a.summary == b.summary
    assert a.messages() == b.messages()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes | str]:
    """Every item the store parses from JSON."""
    seen: list[bytes | str] = []
    real = HistoryItem.model_validate_json

    def counted(data: bytes | str) -> HistoryItem:
        seen.append(data)
        return real(data)

    monkeypatch.setattr(HistoryItem, "model_validate_json", counted)
    return seen


def test_a_grown_history_is_extended_by_its_new_items_only(parses: list[bytes | str]) -> None:
    store = HistoryStore(cache_items=100)
    # a silent turn (no answer) makes two user messages in a row: merged across the seam
    items = [turn(1), turn(2, answered=False)]
    raw = encoded(items)
    first = store.parse(raw, "s")
    assert len(parses) == 2
    grown = [*raw, *encoded([turn(3), turn(4)])]
    history = store.parse(grown, "s")
    assert parses[2:] == grown[2:]  # the two it had not seen
    same(history, History([*items, turn(3), turn(4)]))
    assert [m.role for m in history.messages()] == ["user", "assistant"] * 3
    assert history.messages()[2].content[0].text == "question 2"
    assert history.messages()[2].content[1].text == "question 3"
    same(first, History(items))  # the earlier history is left as it was


def test_items_a_run_wrote_are_not_parsed_again(parses: list[bytes | str]) -> None:
    store = HistoryStore(cache_items=100)
    raw = encoded([turn(1)])
    store.parse(raw, "s")
    write = HistoryWrite("history:s", "s", append=[turn(2)])
    store.learn(write)
    _, appended = write.encoded()
    history = store.parse([*raw, *appended], "s")
    assert len(parses) == 1
    same(history, History([turn(1), turn(2)]))


def test_a_history_changed_at_its_head_is_parsed_afresh(parses: list[bytes | str]) -> None:
    store = HistoryStore(cache_items=100)
    store.parse(encoded([turn(1), turn(2), turn(3)]), "s")
    summary = HistoryItem.summary("run4", 4, "they asked three questions")
    folded = [summary, turn(3)]
    history = store.parse(encoded(folded), "s")
    same(history, History(folded))
    assert history.summary == "they asked three questions"
    shorter = store.parse(encoded([turn(3)]), "s")  # cleared, then one turn
    same(shorter, History([turn(3)]))
    store.parse(encoded([turn(3), turn(4)]), "s")
    longer = [turn(5), turn(6), turn(7)]  # cleared, then more turns than it had
    same(store.parse(encoded(longer), "s"), History(longer))


def test_sessions_do_not_share_histories() -> None:
    store = HistoryStore(cache_items=100)
    store.parse(encoded([turn(1)]), "a")
    history = store.parse(encoded([turn(2)]), "b")
    same(history, History([turn(2)]))


def test_the_store_keeps_no_more_items_than_it_may(parses: list[bytes | str]) -> None:
    store = HistoryStore(cache_items=3)
    for s in "abc":
        store.parse(encoded([turn(1), turn(2)]), s)  # the same items for all three
    parses.clear()
    store.parse(encoded([turn(5), turn(6)]), "d")
    store.parse(encoded([turn(1), turn(2)]), "a")  # pushed out by d: parsed again
    assert len(parses) == 4
    off = HistoryStore(cache_items=0)
    same(off.parse(encoded([turn(1)]), "s"), History([turn(1)]))


def test_merging_onto_merged_messages_is_merging_the_whole() -> None:
    a = [said("user", "1"), said("user", "2"), said("assistant", "3")]
    b = [said("assistant", "4"), said("user", "5"), said("user", "6")]
    assert merge_roles(b, onto=merge_roles(a)) == merge_roles([*a, *b])


def test_sessions_with_empty_histories_count_against_the_bound() -> None:
    store = HistoryStore(cache_items=3)
    for n in range(50):
        same(store.parse([], f"s{n}"), History())
    assert len(store._sessions) <= 3
    held = HistoryHeld(3)
    for n in range(50):  # cleared histories: each leaves an empty list
        write = HistoryWrite(f"history:s{n}", f"s{n}", clear=True)
        held.remember([write])
    assert held.get("s49", 0) == []
    assert held.get("s0", 0) is None  # pushed out, as any kept list would be


def test_an_item_is_written_without_its_defaults_and_read_back_whole() -> None:
    tool = ModelMessage(
        role="assistant",
        content=[ContentBlock(type="tool_use", id="t1", name="clock", input={})],
    )
    items = [
        HistoryItem.turn("run1", 1, [said("user", "what time is it"), tool]),
        HistoryItem.summary("run2", 2, "they asked the time"),
    ]
    write = HistoryWrite("h", summary=items[1], append=[items[0]])
    summary, [written] = write.encoded()
    assert summary is not None
    # a text block leaves out its eight empty fields, a turn its kind
    assert b"tool_use_id" not in written and b"data_b64" not in written
    assert b'"kind"' not in written and b'"kind":"summary"' in summary
    assert b'"input":{}' in written  # a value given, though empty, stays
    assert len(written) < len(items[0].model_dump_json())
    assert [HistoryItem.model_validate_json(d) for d in (written, summary)] == items


def test_a_turn_is_written_as_it_is_read_back_with_its_estimate() -> None:
    messages = [said("user", 'a "quoted" question, é'), said("assistant", "answer")]
    write = HistoryWrite("h", "s")
    item = write.add_turn("run7", 7, messages)
    _, [raw] = write.encoded()
    assert HistoryItem.model_validate_json(raw) == item
    # the estimate is the written JSON's size, in characters per token
    assert (
        item.tokens == len(item.model_dump_json(exclude_defaults=True, exclude={"tokens"})) // 4 + 1
    )
    assert HistoryItem.turn("run7", 7, messages) == item
    empty, data = HistoryItem.encoded_turn("", 0, [])
    assert HistoryItem.model_validate_json(data) == empty and empty.tokens == 1
