"""Model text as valid Unicode, whatever the JSON said.

JSON strings are UTF-16 at heart: a server may send an emoji as the escaped pair `"\\ud83d\\ude00"`, and
some split that pair across two chunks, or send half of it alone. Python's JSON decoder then hands over
lone surrogates, which cannot be written as UTF-8 (stdout, SQLite) and would fail the answer at its
first write. Here a pair split across deltas is joined, and any surrogate that stays alone becomes
U+FFFD. Pure Python; the cost for ordinary text is one `isascii()` call per delta.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH_FIRST, _HIGH_LAST = 0xD800, 0xDBFF


def mend(text: str) -> str:
    """Join the surrogate pairs in `text` and replace any lone surrogate with U+FFFD."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class TextMender:
    """Mends one stream of deltas: a high surrogate at the end of a delta waits for the next one."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = ""  # a high surrogate waiting for its other half; callers may skip feed() while
        # it is empty and the text is ASCII (the per-token fast path)

    def feed(self, text: str) -> str:
        """The text to show now ("" when all of it waits for the next delta)."""
        if not self.held and text.isascii():
            return text  # the usual case
        text = self.held + text
        self.held = ""
        if text and _HIGH_FIRST <= ord(text[-1]) <= _HIGH_LAST:
            text, self.held = text[:-1], text[-1]
        return mend(text)

    def flush(self) -> str:
        """At the end of the stream: a high surrogate still waiting had no partner."""
        held, self.held = self.held, ""
        return "\ufffd" if held else ""
