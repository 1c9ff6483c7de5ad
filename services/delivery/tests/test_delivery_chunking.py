# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Chunking properties: nothing lost, nothing over the limit, fences balanced, links whole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.chunking import ATOMIC, fence_lines, plan, split, truncate, utf16_len
from delivery.chunking import _joins_previous as joins_previous

WORDS = st.sampled_from(
    [
        "hello",
        "world",
        "naïve",
        "e\u0301t\u00e9",
        "日本語",
        "👍🏽",
        "👨‍👩‍👧",
        "🇫🇷",
        "a.",
        "ok!",
        "x?",
    ]
)
LINKS = st.sampled_from(
    [
        "[docs](https://example.com/a_b?x=1&y=2)",
        "https://example.com/path/with/a/long/tail/that/goes/on/and/on",
        "<https://example.com/q|label>",
    ]
)
FENCE = st.builds(
    lambda lang, lines: f"```{lang}\n" + "\n".join(lines) + "\n```",
    st.sampled_from(["", "python", "js"]),
    st.lists(st.text(alphabet="abc xyz=(){}<>&🙂", min_size=0, max_size=60), max_size=25),
)
PIECE = st.one_of(WORDS, LINKS, FENCE, st.sampled_from([" ", "\n", "\n\n", ". ", "\n```\n"]))
TEXT = st.lists(PIECE, max_size=120).map(" ".join)


def fences_balanced(chunk: str) -> bool:
    lines = fence_lines(chunk)
    return not lines or lines[-1][2] is None


def cut_positions(pieces) -> list[int]:
    out, pos = [], 0
    for p in pieces[:-1]:
        pos += len(p.body)
        out.append(pos)
    return out


@settings(max_examples=300, deadline=None)
@given(TEXT, st.integers(min_value=200, max_value=900))
def test_plan_keeps_every_character_and_every_limit(text: str, limit: int) -> None:
    pieces = plan(text, limit)
    # the exact invariant: bodies concatenate to the input; only fence lines are added
    assert "".join(p.body for p in pieces) == text
    for p in pieces:
        assert p.text == p.reopen + p.body + p.close
        assert utf16_len(p.text) <= limit
        assert p.reopen == "" or (p.reopen.startswith("```") and p.reopen.endswith("\n"))
        assert p.close in ("", "```", "\n```")
        assert fences_balanced(p.text), p.text
    spans = [(m.start(), m.end()) for m in ATOMIC.finditer(text)]
    for cut in cut_positions(pieces):
        assert not joins_previous(text[cut]), (cut, text[cut - 2 : cut + 2])
        for s, e in spans:  # every link here is shorter than a chunk: never cut
            assert not (s < cut < e), (text[s:e], cut - s)


def test_a_link_longer_than_a_chunk_is_the_only_thing_ever_cut() -> None:
    link = "https://example.com/" + "x" * 300
    pieces = plan(f"see {link} now", 120)
    assert "".join(p.body for p in pieces) == f"see {link} now"
    assert pieces[0].body == "see "


def test_a_long_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i})" for i in range(200))
    text = f"Intro.\n\n```python\n{code}\n```\n\nOutro."
    chunks = split(text, 300)
    assert len(chunks) > 4
    for chunk in chunks:
        assert fences_balanced(chunk)
        assert len(chunk) <= 300
    assert all(c.startswith("```python\n") for c in chunks[1:-1])
    assert chunks[0].startswith("Intro.")
    assert chunks[-1].rstrip().endswith("Outro.")


def test_prefers_paragraphs_then_lines_then_sentences() -> None:
    para = "First sentence here. Second one follows. " * 3
    text = (para.strip() + "\n\n") * 6
    chunks = split(text, 300)
    assert all(c.endswith("\n\n") or c == chunks[-1] for c in chunks)
    one_line = "Alpha beta gamma. Delta epsilon zeta! Eta theta iota? " * 20
    for chunk in split(one_line, 200)[:-1]:
        assert chunk.rstrip().endswith((".", "!", "?"))


def test_emoji_and_combining_marks_stay_whole() -> None:
    text = "👨‍👩‍👧" * 400 + "e\u0301" * 400
    chunks = plan(text, 100)
    assert "".join(p.body for p in chunks) == text
    for p in chunks:
        assert not joins_previous(p.body[0])
        assert utf16_len(p.text) <= 100


def test_truncate_says_so_and_fits() -> None:
    text = "word " * 20_000
    cut = truncate(text, 40_000)
    assert len(cut) <= 40_000
    assert cut.endswith("(truncated)")
    assert truncate("short", 40_000) == "short"
