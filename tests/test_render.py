"""The markdown sink, in process: streamed output equals a one-shot render, at bounded cost, safely.

The reference is always `Console.print(Markdown(whole))` at the same width. Streamed output is compared
byte for byte (OSC 8 link ids aside: rich makes a random one per link), and where the bytes differ,
cell by cell (character and style) — what a terminal shows.
"""

from __future__ import annotations

import io
import os
import re
import threading

import pyte
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from llmcli.render.blocks import StreamRenderer, terminal_markdown
from llmcli.render.markdown import MarkdownSink, _TerminalFile
from llmcli.render.plain import PlainSink
from llmcli.render.reasoning import ReasoningView
from llmcli.render.spinner import Spinner

# --- tricky markdown --------------------------------------------------------------------------

LONG_FENCE = (
    "```python\n"
    + "\n".join(
        [
            "import os",
            "",
            "class Thing:",
            '    """A docstring',
            "    that spans lines",
            '    """',
            "",
            *[
                f"    def method_{i}(self, a, b={i}):  # comment {i}"
                if i % 5 == 0
                else f"        value_{i} = os.path.join('x', \"{i}\") + 0x{i:x}   "
                if i % 7 == 0
                else ""
                if i % 11 == 0
                else f"        return self.call_{i}(a, b) * {i}"
                for i in range(70)
            ],
        ]
    )
    + "\n```"
)

SNIPPETS = [
    "Title\n=====",
    "Sub heading\n---",
    "- --",
    "---",
    "***",
    "# ATX *heading*",
    "### closed ###",
    "A paragraph with *em*, **strong**, ~~strike~~, `code` and a [link](https://example.com/a_b).",
    "line one\nline two with a hard break  \nline three",
    "- a\n- b\n  - nested\n    - deeper\n- c",
    "1. one\n2. two\n\n3. three (loose)",
    "8. eight\n9. nine\n10. ten\n11. eleven",
    "- item\n\n  continuation paragraph\n\n  ```\n  code in an item\n  ```",
    "* star\n+ plus\n- dash",
    "| a | b |\n|---|:-:|\n| 1 | 2 |\n| a longer cell | x |",
    "a | b\n--|--\nc | d",
    "```python\ndef f(x):\n    '''doc\n    string'''\n    return x + 1\n```",
    "~~~\ntilde fence\n~~~",
    "````\n```\nnested fence marker\n```\n````",
    "  ```\n  indented fence\n   more\n  ```",
    "```\n\ncode with blank lines\n\n\n```",
    LONG_FENCE,
    "<div>\n*not markdown*\n</div>",
    "<!-- a comment -->",
    "<details>\n<summary>sum</summary>\n\ninner *md*\n</details>",
    "> quote\n> more\n>\n> - list in a quote\n> ---",
    "> lazy\ncontinuation",
    "    indented code\n    more code",
    '[ref]: https://example.com/ref "Title"\n\nUses [ref] and [ref][].',
    "![image](https://example.com/i.png) and text",
    "Escapes: \x1b[2J \x1b]52;c;aGVsbG8=\x07 bare \x1b and \x9b1m C1, \x07 bell, \x08 backspace",
    "CRLF line\r\nsecond\r\n",
    "para\n- a list interrupts it",
    "para\n2. not a list",
    "para\n1. a list from one",
    "tab\tseparated\ttext",
    "東京 café naïve déjà-vu",
    "a line that is rather long and will wrap at narrow widths because it keeps going on and on",
]
ENDINGS = [
    "",
    "```js\nlet open = 1;\nno closing fence",
    LONG_FENCE[:-4],
    "| x | y |\n|---|---|\n| 1",
    "Trailing",
]


def _document(parts: list[str], seps: list[str], ending: str, newline: str) -> str:
    out = []
    for i, part in enumerate(parts):
        if i and part.startswith("[ref]:") and out[-1] == "\n":
            # A definition glued to a paragraph is paragraph text, and a later copy of the snippet would
            # then define `[ref]` after its first use: the documented limit (module docstring of
            # render/markdown.py), which no streaming renderer can avoid without holding text back.
            out[-1] = "\n\n"
        out += [part, seps[i]]
    return "".join(out) + ending + newline


documents = st.builds(
    _document,
    st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=7),
    st.lists(st.sampled_from(["\n", "\n\n", "\n\n\n"]), min_size=7, max_size=7),
    st.sampled_from(ENDINGS),
    st.sampled_from(["", "\n"]),
)


def console(buf, width: int, height: int) -> Console:
    # One colour system for every test in this process: rich caches a style's ANSI codes on the style
    # object for the first colour system it meets, and code themes share their styles process-wide.
    return Console(file=buf, width=width, height=height, force_terminal=True, color_system="256")


def oneshot(text: str, width: int, height: int = 25) -> str:
    buf = io.StringIO()
    console(buf, width, height).print(Markdown(terminal_markdown(text)))
    return buf.getvalue()


def streamed(
    text: str, cuts: list[int], width: int, height: int, frames: bool = True
) -> tuple[str, StreamRenderer]:
    buf = io.StringIO()
    c = console(buf, width, height)
    renderer = StreamRenderer(c, c.print)
    prev = 0
    for cut in [*sorted(cuts), len(text)]:
        renderer.feed(text[prev:cut])
        prev = cut
        if frames:
            renderer.frame(height - 1)  # frames must never change what gets printed
    renderer.finish()
    return buf.getvalue(), renderer


LINK_ID = re.compile(r"\x1b\]8;id=[^;]*;")


def cells(ansi: str) -> list[list[tuple[str, str]]]:
    text = Text.from_ansi(ansi)
    probe = Console()
    return [
        [(ch, str(line.get_style_at_offset(probe, i))) for i, ch in enumerate(line.plain)]
        for line in text.split("\n", allow_blank=True)
    ]


def assert_same_render(expected: str, actual: str) -> None:
    if LINK_ID.sub("", expected) == LINK_ID.sub("", actual):
        return
    e, a = cells(expected), cells(actual)
    for i, (x, y) in enumerate(zip(e, a, strict=False)):
        assert x == y, f"line {i} differs:\n{''.join(c for c, _ in x)!r}\n{''.join(c for c, _ in y)!r}"
    assert len(e) == len(a), (len(e), len(a))


# --- equivalence ------------------------------------------------------------------------------


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents, data=st.data(), width=st.sampled_from([44, 80]), height=st.sampled_from([10, 24]))
def test_streamed_render_equals_one_shot_over_random_chunkings(doc, data, width, height):
    cuts = data.draw(st.lists(st.integers(0, len(doc)), max_size=max(1, len(doc) // 4)), label="cuts")
    actual, _ = streamed(doc, cuts, width, height)
    assert_same_render(oneshot(doc, width, height), actual)


@pytest.mark.parametrize("snippet", SNIPPETS + ENDINGS[1:], ids=range(len(SNIPPETS) + len(ENDINGS) - 1))
def test_every_snippet_char_by_char_after_each_kind_of_block(snippet):
    """Every awkward block, fed one character at a time, after a paragraph, a rule and a list."""
    for before in ("", "Intro paragraph.\n\n", "---\n", "- item\n\n", "> quote\n\n"):
        doc = before + snippet + "\n\nAfter *it*.\n"
        actual, _ = streamed(doc, list(range(len(doc))), 60, 12, frames=False)
        assert_same_render(oneshot(doc, 60, 12), actual)


def test_finished_blocks_are_printed_while_the_answer_streams():
    buf = io.StringIO()
    c = console(buf, 80, 24)
    r = StreamRenderer(c, c.print)
    r.feed("# Heading\n")
    assert "Heading" in buf.getvalue()  # a heading cannot change: printed at once
    r.feed("First paragraph\ncontinues.\n\n")
    assert "First" not in buf.getvalue()  # the last block may still change (setext, lazy lines)
    r.feed("Second")
    assert "First" not in buf.getvalue()  # boundaries are decided on complete lines only
    r.feed(" paragraph.\n")
    assert "First paragraph continues." in buf.getvalue() and "Second" not in buf.getvalue()
    assert "Second" in Text.from_ansi(_render(c, r.frame(23))).plain  # ...but the live frame shows it
    r.finish()
    assert "Second paragraph." in buf.getvalue()


def _render(c: Console, renderable) -> str:
    with c.capture() as cap:
        c.print(renderable)
    return cap.get()


def test_a_setext_underline_turns_the_pending_paragraph_into_a_heading():
    doc = "Intro.\n\nNot yet a heading\n---\n\nBody.\n"
    actual, _ = streamed(doc, list(range(len(doc))), 80, 24)
    assert_same_render(oneshot(doc, 80, 24), actual)
    assert "Not yet a heading" in Text.from_ansi(actual).plain and "---" not in Text.from_ansi(actual).plain


def test_a_long_open_fence_is_printed_line_by_line_before_it_closes():
    lines = [f"print('line {i}')  # {'x' * (i % 13)}" for i in range(400)]
    buf = io.StringIO()
    c = console(buf, 80, 20)
    r = StreamRenderer(c, c.print)
    r.feed("Code:\n\n```python\n")
    for line in lines[:300]:
        r.feed(line + "\n")
    shown = Text.from_ansi(buf.getvalue()).plain
    assert "line 0'" in shown and "line 200'" in shown  # printed for good while still open
    assert "line 299'" not in shown  # the newest lines stay in the live region (lookahead)
    for line in lines[300:]:
        r.feed(line + "\n")
    r.feed("```\n\nAfter.\n")
    r.finish()
    doc = "Code:\n\n```python\n" + "\n".join(lines) + "\n```\n\nAfter.\n"
    assert_same_render(oneshot(doc, 80, 20), buf.getvalue())


def test_fence_highlighting_waits_for_an_open_construct():
    """Lines inside an unclosed triple-quoted string are not printed before the lexer knows about them."""
    body = ["x = 1", '"""', *[f"inside the string {i}" for i in range(120)], '"""', "y = 2"]
    doc = "```python\n" + "\n".join(body) + "\n```\n"
    for step in (1, 7, 50):
        actual, _ = streamed(doc, list(range(0, len(doc), step)), 70, 10)
        assert_same_render(oneshot(doc, 70, 10), actual)


def test_cost_is_bounded_by_the_current_block_not_the_answer():
    """Parsing work per step depends on the block being written, not on how long the answer is."""
    block = "A paragraph of some length with *emphasis* and `code`.\nIt has a second line.\n\n"
    items = "- one\n- two\n- three\n\n"
    small = (block + items) * 20
    large = (block + items) * 400  # 20x longer answer, same blocks
    sizes = {}
    for name, doc in (("small", small), ("large", large)):
        _, r = streamed(doc, list(range(0, len(doc), 5)), 80, 24)
        sizes[name] = r.largest_parse
    assert sizes["large"] == sizes["small"]
    assert sizes["large"] < 4 * len(block + items)


def test_a_long_fence_costs_linear_work_overall():
    body = "\n".join(f"value_{i} = compute({i})" for i in range(3000))
    doc = "```python\n" + body + "\n```\n"
    buf = io.StringIO()
    c = console(buf, 80, 24)
    parsed = []
    r = StreamRenderer(c, c.print)
    original = r._md.parse
    r._md.parse = lambda text, env=None: (parsed.append(len(text)), original(text, env))[1]
    for i in range(0, len(doc), 8):
        r.feed(doc[i : i + 8])
    r.finish()
    assert sum(parsed) < 12 * len(doc)  # batches grow with the fence: total work stays linear
    assert_same_render(oneshot(doc, 80, 24), buf.getvalue())


def test_references_defined_before_use_work_across_blocks():
    doc = "[site]: https://example.com\n\nIntro.\n\n- see [site]\n\n> also [site]\n"
    actual, _ = streamed(doc, list(range(len(doc))), 80, 24)
    assert_same_render(oneshot(doc, 80, 24), actual)
    assert "[site]" not in Text.from_ansi(actual).plain


# --- terminal safety --------------------------------------------------------------------------

HOSTILE = "Hi \x1b[2J\x1b]52;c;c2VjcmV0\x07 there \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ \x1b \x9b31m\x07\r over\n"


def test_escape_sequences_from_the_model_are_inert_in_the_markdown_sink():
    out, _ = streamed(HOSTILE, [5, 9, 20], 80, 24)
    assert "\x1b[2J" not in out and "\x1b]52" not in out and "\x1b]8;;http://evil" not in out
    assert "\x9b" not in out and "\x07" not in out and "\r" not in out
    visible = Text.from_ansi(out).plain
    assert "␛[2J" in visible and "␛]52;c;c2VjcmV0␇" in visible and "␍ over" in visible


def test_plain_sink_neutralises_on_a_terminal_and_is_exact_in_a_pipe():
    tty, pipe = io.BytesIO(), io.BytesIO()
    for sink in (PlainSink(tty, terminal=True), PlainSink(pipe, terminal=False)):
        sink.start()
        sink.text(HOSTILE[:10])
        sink.text(HOSTILE[10:])
        sink.end()
    assert pipe.getvalue() == HOSTILE.encode()
    assert b"\x1b" not in tty.getvalue() and "␛[2J".encode() in tty.getvalue()


# --- the sink with its live region, through a terminal emulator -------------------------------


def emulate(data: bytes, width: int, height: int) -> list[tuple]:
    """Scrollback + screen as rows of (char, fg, bg, bold, italics, underscore, strikethrough, reverse)."""
    screen = pyte.HistoryScreen(width, height, history=1_000_000, ratio=0.5)
    stream = pyte.ByteStream(screen)
    stream.feed(data)
    rows = []
    for line in [*screen.history.top, *(screen.buffer[y] for y in range(height))]:
        row = tuple(
            (c.data, c.fg, c.bg, c.bold, c.italics, c.underscore, c.strikethrough, c.reverse)
            for c in (line[x] for x in range(width))
        )
        rows.append(row)
    blank = screen.default_char
    empty = (
        blank.data,
        blank.fg,
        blank.bg,
        blank.bold,
        blank.italics,
        blank.underscore,
        blank.strikethrough,
        blank.reverse,
    )
    while rows and all(cell == empty for cell in rows[-1]):
        rows.pop()
    return rows


def oneshot_on_screen(text: str, width: int, height: int, color_system: str = "256") -> list[tuple]:
    buf = io.StringIO()
    Console(file=buf, width=width, height=height, force_terminal=True, color_system=color_system).print(
        Markdown(terminal_markdown(text))
    )
    return emulate(buf.getvalue().replace("\n", "\r\n").encode(), width, height)


def run_sink_in_pty(chunks: list[str], width: int, height: int, *, pause=None) -> bytes:
    master, slave = os.openpty()
    out = os.fdopen(slave, "wb", buffering=0)
    got = bytearray()

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            got.extend(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    c = Console(file=_TerminalFile(out), width=width, height=height, force_terminal=True, color_system="256")
    sink = MarkdownSink(out, console=c, live=True, max_fps=1000)
    sink.start()
    for i, chunk in enumerate(chunks):
        sink.text(chunk)
        if pause is not None:
            pause(i)
    sink.end()
    out.close()
    reader.join(10)
    os.close(master)
    return bytes(got), sink


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents, data=st.data())
def test_screen_and_scrollback_equal_a_one_shot_render(doc, data):
    import time

    cuts = sorted(data.draw(st.lists(st.integers(0, len(doc)), max_size=len(doc) // 3), label="cuts"))
    chunks = [doc[a:b] for a, b in zip([0, *cuts], [*cuts, len(doc)], strict=True)]
    got, sink = run_sink_in_pty(chunks, 70, 12, pause=lambda i: time.sleep(0.001) if i % 5 == 0 else None)
    assert emulate(got, 70, 12) == oneshot_on_screen(doc, 70, 12)
    # The cursor comes back. (When the whole answer reaches the painter together with the end, no live
    # region is ever started, so there is nothing to hide: zero of each is right too.)
    assert got.count(b"\x1b[?25l") == got.count(b"\x1b[?25h") <= 1


def test_the_live_region_never_outgrows_the_screen():
    """A block taller than the terminal: the live region shows its newest lines, scrollback stays clean."""
    import time

    items = "".join(f"- item number {i} with some words\n" for i in range(80))
    chunks = [items[i : i + 9] for i in range(0, len(items), 9)]
    got, sink = run_sink_in_pty(chunks, 60, 10, pause=lambda i: time.sleep(0.002))
    assert sink.frames > 5
    assert emulate(got, 60, 10) == oneshot_on_screen(items, 60, 10)


def test_markdown_into_a_pipe_renders_without_moving_the_cursor():
    out = io.BytesIO()
    c = Console(file=_TerminalFile(out), width=50, force_terminal=True, color_system="256")
    sink = MarkdownSink(out, console=c)  # not a tty: no live region
    sink.start()
    for piece in ("# Title\n\n", "Some **bold** text.\n", "\n- a\n- b\n"):
        sink.text(piece)
    sink.end()
    data = out.getvalue().decode()
    assert "\x1b[?25l" not in data and "\x1b[J" not in data and "\x1b[1A" not in data
    assert_same_render(oneshot("# Title\n\nSome **bold** text.\n\n- a\n- b\n", 50), data)


def test_a_rendering_failure_falls_back_to_plain_text(monkeypatch, capsys):
    def broken(self, max_lines):
        raise ValueError("simulated rendering bug")

    import time

    monkeypatch.setattr(StreamRenderer, "frame", broken)
    got, _ = run_sink_in_pty(["Hello *world*\n", "second line"], 60, 10, pause=lambda i: time.sleep(0.1))
    screen = emulate(got, 60, 10)
    text = ["".join(cell[0] for cell in row).rstrip() for row in screen]
    assert text == ["Hello *world*", "second line"]
    assert "simulated rendering bug" in capsys.readouterr().err


def test_write_errors_reach_the_turn():
    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            raise OSError(28, "No space left on device")

    from llmcli.errors import OutputError

    out = Full()
    sink = MarkdownSink(out, console=Console(file=_TerminalFile(out), width=40, force_terminal=True))
    sink.start()
    sink.text("# Heading\n\ntext\n")
    with pytest.raises(OutputError, match="No space left"):
        sink.end()


# --- stderr helpers ---------------------------------------------------------------------------


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_spinner_draws_while_waiting_and_clears_its_line():
    import time

    err = FakeTty()
    spinner = Spinner(err, delay=0.0, interval=0.01)
    spinner.start()
    time.sleep(0.15)
    spinner.stop()
    data = err.getvalue()
    assert "waiting for the answer" in data and data.endswith("\x1b[2K")
    frames = data.count("\r")
    time.sleep(0.05)
    assert err.getvalue().count("\r") == frames  # nothing drawn after stop()


def test_a_fast_answer_shows_no_spinner():
    err = FakeTty()
    spinner = Spinner(err, delay=0.5)
    spinner.start()
    spinner.stop()
    assert err.getvalue() == ""


def test_reasoning_is_dim_neutralised_and_ends_before_the_answer():
    err, out = FakeTty(), io.BytesIO()
    sink = PlainSink(out, terminal=True, reasoning=ReasoningView(err))
    sink.start()
    sink.reasoning("thinking \x1b[2J")
    sink.reasoning("hard")
    sink.text("Answer")
    sink.reasoning(" more thoughts")  # after the answer began: kept out of the terminal
    sink.end()
    assert err.getvalue() == "\x1b[2mthinking ␛[2J\x1b[0m\x1b[2mhard\x1b[0m\n\n"
    assert out.getvalue() == b"Answer\n"
