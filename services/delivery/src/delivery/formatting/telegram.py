"""Markdown into Telegram's HTML parse mode, with every text node escaped.

Telegram accepts only ``b i u s code pre a blockquote tg-spoiler``; ``& < >`` are
escaped everywhere, and attribute values also escape quotes. A message Telegram still
refuses to parse is resent as plain text by the adapter.
"""

from __future__ import annotations

import html
import re

from delivery.formatting.markdown import (
    BARE_URL,
    BOLD,
    BULLET,
    HEADING,
    ITALIC,
    LINK,
    STRIKE,
    Shelf,
    segments,
)

SPOILER = re.compile(r"\|\|(?=\S)(.+?)(?<=\S)\|\|")
QUOTE_BLOCK = re.compile(r"(?:^&gt; ?.*(?:\n|$))+", re.M)
LANG = re.compile(r"^[\w+#.-]{1,32}$")


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def _quote(m: re.Match[str]) -> str:
    block = m.group(0)
    tail = "\n" if block.endswith("\n") else ""
    lines = [re.sub(r"^&gt; ?", "", line) for line in block.rstrip("\n").split("\n")]
    return "<blockquote>" + "\n".join(lines) + "</blockquote>" + tail


def _prose(text: str) -> str:
    shelf = Shelf()
    text = LINK.sub(
        lambda m: shelf.put(
            f'<a href="{html.escape(m.group(2), quote=True)}">{escape(m.group(1))}</a>'
        ),
        text,
    )
    text = BARE_URL.sub(lambda m: shelf.put(escape(m.group(0))), text)
    text = escape(text)
    text = QUOTE_BLOCK.sub(_quote, text)
    text = HEADING.sub(lambda m: "<b>" + m.group(1) + "</b>", text)
    text = BOLD.sub(lambda m: "<b>" + m.group(2) + "</b>", text)
    text = ITALIC.sub(lambda m: "<i>" + m.group(2) + "</i>", text)
    text = STRIKE.sub(lambda m: "<s>" + m.group(1) + "</s>", text)
    text = SPOILER.sub(lambda m: "<tg-spoiler>" + m.group(1) + "</tg-spoiler>", text)
    text = BULLET.sub(lambda m: m.group(1) + "• ", text)
    return shelf.restore(text)


def to_html(text: str) -> str:
    out = []
    for seg in segments(text):
        if seg.kind == "block":
            lang = f' class="language-{seg.lang}"' if LANG.match(seg.lang) else ""
            out.append(f"<pre><code{lang}>{escape(seg.content)}</code></pre>")
        elif seg.kind == "code":
            out.append(f"<code>{escape(seg.content)}</code>")
        else:
            out.append(_prose(seg.content))
    return "".join(out)


def to_plain(text: str) -> str:
    """What is sent when Telegram refuses the HTML: the markdown as it was written."""
    return text
