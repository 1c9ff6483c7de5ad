"""Emoji as Slack names: Slack's reactions API takes ``thumbsup``, not the character."""

from __future__ import annotations

import re

from common.errors import PermanentError

SLACK_NAMES = {
    "👍": "+1",
    "👎": "-1",
    "❤️": "heart",
    "❤": "heart",
    "😂": "joy",
    "😄": "smile",
    "😊": "blush",
    "🙂": "slightly_smiling_face",
    "😢": "cry",
    "😮": "open_mouth",
    "🤔": "thinking_face",
    "🎉": "tada",
    "✅": "white_check_mark",
    "✔️": "heavy_check_mark",
    "❌": "x",
    "⚠️": "warning",
    "👀": "eyes",
    "🙏": "pray",
    "🔥": "fire",
    "🚀": "rocket",
    "💯": "100",
    "⭐": "star",
    "👋": "wave",
    "👏": "clap",
    "💡": "bulb",
    "📌": "pushpin",
    "⏳": "hourglass_flowing_sand",
}
NAME = re.compile(r"^:?([a-z0-9_+'-]+(?:::skin-tone-[2-6])?):?$")


def slack_name(emoji: str) -> str:
    """``👍``, ``:thumbsup:`` or ``thumbsup`` -> ``+1``/``thumbsup``; unknown characters fail."""
    emoji = emoji.strip()
    if emoji in SLACK_NAMES:
        return SLACK_NAMES[emoji]
    m = NAME.match(emoji)
    if m:
        return m.group(1)
    raise PermanentError(f"slack: no reaction name known for {emoji!r}; use a :name:")
