# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Markdown into Slack mrkdwn and Telegram HTML: converted, and escaped everywhere."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from delivery.formatting.slack import to_mrkdwn
from delivery.formatting.telegram import to_html
from tests.fakes.telegram import parse_html

SAMPLE = """# Plan
Some **bold**, *italic*, _also_, ~~gone~~ and snake_case_name.
- item with [a link](https://ex.com/a_b?x=1&y=2)
> a quote <b>not bold</b>
Use `x < y && z` here.
```python
if a < b:
    print("**not bold**")
```"""


def test_slack_mrkdwn() -> None:
    out = to_mrkdwn(SAMPLE)
    assert "*Plan*" in out
    assert "*bold*" in out and "**bold**" not in out
    assert "_italic_" in out and "_also_" in out and "~gone~" in out
    assert "snake_case_name" in out
    assert "• item with <https://ex.com/a_b?x=1&amp;y=2|a link>" in out
    assert "&lt;b&gt;not bold&lt;/b&gt;" in out
    assert "`x &lt; y &amp;&amp; z`" in out
    assert '```\nif a &lt; b:\n    print("**not bold**")\n```' in out


def test_telegram_html() -> None:
    out = to_html(SAMPLE)
    assert "<b>Plan</b>" in out
    assert "<b>bold</b>" in out and "<i>italic</i>" in out and "<s>gone</s>" in out
    assert "snake_case_name" in out
    assert '<a href="https://ex.com/a_b?x=1&amp;y=2">a link</a>' in out
    assert "<blockquote>a quote &lt;b&gt;not bold&lt;/b&gt;</blockquote>" in out
    assert "<code>x &lt; y &amp;&amp; z</code>" in out
    assert '<pre><code class="language-python">if a &lt; b:\n    print("**not bold**")' in out
    _, problem = parse_html(out)
    assert problem is None


@given(st.text(alphabet="ab <>&\"'*_~`[]()#>-\n|/:.", max_size=200))
def test_telegram_html_always_parses_and_shows_every_special_character(text: str) -> None:
    visible, problem = parse_html(to_html(text))
    assert problem is None
    # < and & are never markup: each one of the input reaches the reader as text
    assert visible.count("<") == text.count("<")
    assert visible.count("&") == text.count("&")
