"""A small reader for the markdown agents write: code is kept apart from prose.

Only prose is rewritten by the dialect converters; fenced blocks and inline code keep
their content and only get the escaping their platform needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

BLOCK = re.compile(r"^ {0,3}(`{3,})([^\n`]*)\n(.*?)(?:\n {0,3}\1`*[ \t]*(?=\n|$)|\Z)", re.S | re.M)
INLINE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


@dataclass(frozen=True, slots=True)
class Segment:
    kind: Literal["text", "code", "block"]
    content: str
    lang: str = ""


def segments(text: str) -> list[Segment]:
    """Prose, inline code and fenced blocks, in order."""
    out: list[Segment] = []
    pos = 0
    for m in BLOCK.finditer(text):
        out += _inline(text[pos : m.start()])
        out.append(Segment("block", m.group(3), m.group(2).strip()))
        pos = m.end()
    out += _inline(text[pos:])
    return out


def _inline(text: str) -> list[Segment]:
    out: list[Segment] = []
    pos = 0
    for m in INLINE.finditer(text):
        if m.start() > pos:
            out.append(Segment("text", text[pos : m.start()]))
        out.append(Segment("code", m.group(2)))
        pos = m.end()
    if pos < len(text):
        out.append(Segment("text", text[pos:]))
    return out


BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
ITALIC = re.compile(r"(?<![\w*])([*_])(?=\S)([^*_\n]+?)(?<=\S)\1(?![\w*])")
STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?|mailto|tg):[^)\s]+)\)")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.M)
QUOTE = re.compile(r"^> ?(.*)$", re.M)
BARE_URL = re.compile(r"https?://[^\s<>()\]]+")


class Shelf:
    """Holds finished fragments (links, URLs) out of reach of the inline rewrites."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def put(self, rendered: str) -> str:
        self.items.append(rendered)
        return f"\x02{len(self.items) - 1}\x03"

    def restore(self, text: str) -> str:
        return re.sub(r"\x02(\d+)\x03", lambda m: self.items[int(m.group(1))], text)
