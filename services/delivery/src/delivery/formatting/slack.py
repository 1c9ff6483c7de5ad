"""Markdown into Slack mrkdwn: ``*bold*``, ``_italic_``, ``~strike~``, ``<url|text>``.

Slack wants ``&``, ``<`` and ``>`` escaped everywhere, code included; fenced blocks lose
their language label (mrkdwn has none).
"""

from __future__ import annotations

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


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _prose(text: str) -> str:
    shelf = Shelf()
    text = LINK.sub(
        lambda m: shelf.put(f"<{escape(m.group(2))}|{escape(m.group(1)).replace('|', '¦')}>"),
        text,
    )
    text = BARE_URL.sub(lambda m: shelf.put(escape(m.group(0))), text)
    text = escape(text)
    text = HEADING.sub(lambda m: "\x01" + m.group(1) + "\x01", text)
    text = BOLD.sub(lambda m: "\x01" + m.group(2) + "\x01", text)
    text = ITALIC.sub(lambda m: "_" + m.group(2) + "_", text)
    text = STRIKE.sub(lambda m: "~" + m.group(1) + "~", text)
    text = BULLET.sub(lambda m: m.group(1) + "• ", text)
    return shelf.restore(text.replace("\x01", "*"))


def to_mrkdwn(text: str) -> str:
    out = []
    for seg in segments(text):
        if seg.kind == "block":
            out.append("```\n" + escape(seg.content) + "\n```")
        elif seg.kind == "code":
            out.append("`" + escape(seg.content) + "`")
        else:
            out.append(_prose(seg.content))
    return "".join(out)
