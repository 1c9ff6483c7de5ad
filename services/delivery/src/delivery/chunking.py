"""Splitting a long message into platform-sized chunks without breaking its markdown.

``plan(text, limit)`` cuts ``text`` into consecutive bodies and wraps each as
``reopen + body + close``. The invariant, checked by property tests:

- ``"".join(p.body for p in pieces) == text``: nothing is lost, repeated or reordered;
- ``reopen`` is ``""`` or the opening line of the code fence that is open where the body
  starts (plus ``"\\n"``); ``close`` is ``""``, ``"```"`` or ``"\\n```"`` (the opener's
  backtick run) when a fence is still open at the end of ``reopen + body``; so every chunk
  has balanced fences;
- ``measure(p.text) <= limit`` for every piece;
- no cut falls inside a markdown link, an ``<...>`` link or a bare URL (unless that one
  link alone is longer than a chunk), nor between a character and a combining mark,
  zero-width joiner or variation selector that belongs to it.

Cuts prefer, in order: a blank line, a line end, a sentence end, any whitespace.
Lengths are measured in UTF-16 code units, which is what Telegram counts and never less
than what Slack or Discord count.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

FENCE = re.compile(r"^ {0,3}(`{3,})(.*)$")
ATOMIC = re.compile(
    r"\[[^\]\n]*\]\([^)\s]*\)"  # [text](url)
    r"|<[^<>\s|]+(?:\|[^<>\n]*)?>"  # <url|text> (Slack)
    r"|https?://[^\s<>()\]]+"  # bare URL
    r"|[^\n] {0,3}`{3,}"  # backticks that would look like a fence at a chunk start
)
SENTENCE = re.compile(r"[.!?][)\"'\]]*[ \t]+")
SPACE = re.compile(r"\s+")
MAX_OPENER = 32
CLOSE_RESERVE = 1 + MAX_OPENER  # "\n" + the longest backtick run we reopen with


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class Piece:
    reopen: str
    body: str
    close: str

    @property
    def text(self) -> str:
        return self.reopen + self.body + self.close


def _joins_previous(ch: str) -> bool:
    """A character that must stay with the one before it (marks, ZWJ, selectors, tones)."""
    code = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or code == 0x200D
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def fence_lines(text: str) -> list[tuple[int, int, str | None]]:
    """Every fence line as ``(start, end, opener)``; ``opener`` is the fence open after it."""
    out: list[tuple[int, int, str | None]] = []
    fence: str | None = None
    pos = 0
    for line in text.split("\n"):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = line.strip()
            elif not m.group(2).strip() and len(m.group(1)) >= len(_ticks(fence)):
                fence = None
            out.append((pos, pos + len(line), fence))
        pos += len(line) + 1
    return out


def _ticks(opener: str) -> str:
    m = FENCE.match(opener)
    return m.group(1) if m else "```"


def _reopen(fence: str | None) -> str:
    if fence is None:
        return ""
    return (fence if len(fence) <= MAX_OPENER else _ticks(fence)[:MAX_OPENER]) + "\n"


def _close(body: str, fence: str | None) -> str:
    if fence is None:
        return ""
    ticks = _ticks(fence)[:MAX_OPENER]
    return ticks if body.endswith("\n") or not body else "\n" + ticks


class _Cutter:
    def __init__(self, text: str, measure: Callable[[str], int]) -> None:
        self.text = text
        self.widths = [measure(ch) for ch in text]
        self.fences = fence_lines(text)
        self.links = [(m.start(), m.end()) for m in ATOMIC.finditer(text)]
        self.spans = self.links + [(s, e) for s, e, _ in self.fences]

    def fence_at(self, pos: int) -> str | None:
        """The opener of the fence open at ``pos`` (never inside a fence line)."""
        at = bisect.bisect_right([e for _, e, _ in self.fences], pos)
        return self.fences[at - 1][2] if at else None

    def fits(self, start: int, budget: int) -> int:
        """The largest end such that text[start:end] measures at most ``budget``."""
        used, end = 0, start
        while end < len(self.text) and used + self.widths[end] <= budget:
            used += self.widths[end]
            end += 1
        return end

    def ok(self, start: int, cut: int, spans: list[tuple[int, int]] | None = None) -> bool:
        if cut <= start or (cut < len(self.text) and _joins_previous(self.text[cut])):
            return False
        return not any(s < cut < e for s, e in (self.spans if spans is None else spans))

    def cut(self, start: int, hard: int) -> int:
        """Where to end the chunk starting at ``start`` that may run up to ``hard``."""
        if hard >= len(self.text):
            return hard
        window = self.text[start:hard]
        floor = start + max(1, (hard - start) // 3)
        for pattern in ("\n\n", "\n"):
            at = window.rfind(pattern)
            while at >= 0:
                cut = start + at + len(pattern)
                if cut >= floor and self.ok(start, cut):
                    return cut
                at = window.rfind(pattern, 0, at)
        for regex in (SENTENCE, SPACE):
            for cut in reversed([start + m.end() for m in regex.finditer(window)]):
                if cut >= floor and self.ok(start, cut):
                    return cut
        # a fence line, then a link, longer than a whole chunk has to be cut
        for spans in (self.spans, self.links, []):
            cut = hard
            while cut > start and not self.ok(start, cut, spans):
                cut -= 1
            if cut > start:
                return cut
        return hard


def _open_after(chunk: str) -> str | None:
    """The fence left open at the end of ``chunk``, as a renderer of that chunk sees it."""
    lines = fence_lines(chunk)
    return lines[-1][2] if lines else None


def plan(text: str, limit: int, measure: Callable[[str], int] = utf16_len) -> list[Piece]:
    """Cut ``text`` into pieces of at most ``limit`` (see the module docstring)."""
    if limit < 2 * CLOSE_RESERVE + 8:
        raise ValueError(f"limit {limit} is too small to keep code fences balanced")
    cutter = _Cutter(text, measure)
    pieces: list[Piece] = []
    pos = 0
    while pos < len(text):
        reopen = _reopen(cutter.fence_at(pos))
        rest = text[pos:]
        close = _close(rest, _open_after(reopen + rest))
        if measure(reopen + rest + close) <= limit:
            pieces.append(Piece(reopen, rest, close))
            break
        budget = limit - measure(reopen) - CLOSE_RESERVE
        end = cutter.cut(pos, cutter.fits(pos, budget))
        body = text[pos:end]
        pieces.append(Piece(reopen, body, _close(body, _open_after(reopen + body))))
        pos = end
    return pieces


def split(text: str, limit: int, measure: Callable[[str], int] = utf16_len) -> list[str]:
    """The chunks to send, in order; blank ones (only whitespace) are left out."""
    return [p.text for p in plan(text, limit, measure) if p.body.strip()]


def truncate(text: str, max_total: int, note: str = "\n\n… (truncated)") -> str:
    """Cut a message that is over a platform's total limit, saying so."""
    if len(text) <= max_total:
        return text
    keep = max_total - len(note)
    while keep > 0 and _joins_previous(text[keep]):
        keep -= 1
    return text[:keep] + note
