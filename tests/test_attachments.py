"""Attachments (`-f/--file`): text blocks, images as content parts, refusals, and what history keeps."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest
from conftest import assert_no_traceback
from refserver import Scenario

from llmcli.core import attachments as att


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


IMAGES = {
    "image/png": png_bytes(),
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 40,
    "image/gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 20,
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 30,
}


def last_user(server) -> object:
    return server.chat_requests()[-1].body["messages"][-1]["content"]


# --- units ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mime,data", IMAGES.items())
def test_images_are_recognised_by_their_content(mime, data):
    assert att.sniff_image(data[:16]) == mime


@pytest.mark.parametrize("data", [b"hello", b"%PDF-1.7", b"RIFF\x00\x00\x00\x00WAVE", b"", b"\xff\xd8"])
def test_other_content_is_not_an_image(data):
    assert att.sniff_image(data) is None


@pytest.mark.parametrize(
    "text,fence",
    [("plain", "```"), ("has ``` inside", "````"), ("x ````` y", "``````"), ("`a` ``b``", "```")],
)
def test_the_fence_is_longer_than_any_backtick_run_inside(text, fence):
    assert att.fence_for(text) == fence


@pytest.mark.parametrize(
    "name,lang",
    [
        ("a.py", "python"),
        ("src/x.RS", "rust"),
        ("Makefile", "makefile"),
        ("notes.txt", ""),
        (".bashrc", ""),
        ("x", ""),
    ],
)
def test_language_from_the_extension(name, lang):
    assert att.language_of(name) == lang


@pytest.mark.parametrize(
    "text,size", [("100", 100), ("512k", 512 * 1024), ("20M", 20 * 1024**2), ("1GiB", 1024**3)]
)
def test_sizes(text, size):
    assert att.parse_size(text) == size


def test_a_text_block_names_the_file_and_fences_its_text():
    a = att.Attachment(att.TEXT, "src/app.py", language="python", text="print(1)")
    assert att.text_block(a) == "File: src/app.py\n```python\nprint(1)\n```"


def test_a_body_shown_without_base64():
    body = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
            }
        ]
    }
    shown = att.abbreviate_images(body)
    assert shown["messages"][0]["content"][0]["image_url"]["url"] == "data:image/png;base64,<4 base64 chars>"
    assert body["messages"][0]["content"][0]["image_url"]["url"].endswith("AAAA")  # the original is untouched


# --- through the CLI --------------------------------------------------------------------------------


def test_text_files_are_delimited_blocks_in_the_order_given_before_the_prompt(cli, server, tmp_path):
    (tmp_path / "b.md").write_text("# Title\n\n```sh\nls\n```\n")
    (tmp_path / "a.py").write_text("print('a')\n")
    r = cli.ask("-m", "M", "-f", str(tmp_path / "b.md"), "--file", str(tmp_path / "a.py"), "review", "these")
    assert r.returncode == 0, r
    assert last_user(server) == (
        f"File: {tmp_path / 'b.md'}\n````markdown\n# Title\n\n```sh\nls\n```\n````\n\n"
        f"File: {tmp_path / 'a.py'}\n```python\nprint('a')\n```\n\n"
        "review these"
    )


def test_files_without_a_prompt_and_stdin_as_an_attachment(cli, server, tmp_path):
    (tmp_path / "q.txt").write_text("what is 2+2?")
    assert cli.ask("-m", "M", "-f", str(tmp_path / "q.txt")).returncode == 0
    assert last_user(server) == f"File: {tmp_path / 'q.txt'}\n```\nwhat is 2+2?\n```"
    # `-f -`: stdin is the attachment, not also the prompt
    r = cli.ask("-m", "M", "-f", "-", "summarise", input="line 1\nline 2\n")
    assert r.returncode == 0, r
    assert last_user(server) == "File: stdin\n```\nline 1\nline 2\n```\n\nsummarise"


@pytest.mark.parametrize("mime,data", IMAGES.items())
def test_images_go_as_data_urls_with_the_mime_type_of_their_content(cli, server, tmp_path, mime, data):
    path = tmp_path / "picture.jpg"  # the name says jpeg: the content decides
    path.write_bytes(data)
    r = cli.ask("-m", "M", "-f", str(path), "what is this?")
    assert r.returncode == 0, r
    parts = last_user(server)
    assert parts == [
        {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}},
        {"type": "text", "text": "what is this?"},
    ]


def test_url_images_pass_through_with_the_detail_asked(cli, server, tmp_path):
    (tmp_path / "notes.txt").write_text("context")
    url = "https://example.com/cat.png"
    r = cli.ask("-m", "M", "-f", str(tmp_path / "notes.txt"), "-f", url, "--image-detail", "low", "describe")
    assert r.returncode == 0, r
    assert last_user(server) == [
        {"type": "text", "text": f"File: {tmp_path / 'notes.txt'}\n```\ncontext\n```"},
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
        {"type": "text", "text": "describe"},
    ]


@pytest.mark.parametrize(
    "name,content,words",
    [
        ("prog", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 50, ["executable"]),
        ("doc.pdf", b"%PDF-1.7\n\x00\x01binary", ["PDF"]),
        ("latin.txt", "café".encode("latin-1"), ["not UTF-8", "iconv"]),
        ("folder", "dir", ["directory", "folder/*.py"]),
        ("missing.txt", None, ["no such file"]),
    ],
)
def test_what_cannot_be_attached_is_exit_2_naming_the_file_and_nothing_is_sent(
    cli, server, tmp_path, name, content, words
):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    r = cli.ask("-m", "M", "-f", str(path), "hi")
    assert r.returncode == 2, r
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"llmcli: error: {path}")
    for w in words:
        assert w in r.stderr
    assert_no_traceback(r.stderr)
    assert r.stdout == "" and server.requests == []


def test_the_size_limit(cli, server, tmp_path):
    (tmp_path / "big.log").write_text("x" * 2000)
    r = cli.ask("-m", "M", "-f", str(tmp_path / "big.log"), "--max-file-bytes", "1k", "hi")
    assert r.returncode == 2 and "big.log" in r.stderr and "--max-file-bytes" in r.stderr
    assert server.requests == []
    assert cli.ask("-m", "M", "-f", str(tmp_path / "big.log"), "--max-file-bytes", "2k", "hi").returncode == 0
    r = cli.ask("-m", "M", "--max-file-bytes", "lots", "hi")
    assert r.returncode == 2 and "--max-file-bytes" in r.stderr


def test_history_keeps_image_references_not_base64_and_continue_resends_them(cli, server, tmp_path, home):
    data = IMAGES["image/png"] * 50  # big enough that its base64 could not hide
    img = tmp_path / "shot.png"
    img.write_bytes(data)
    (tmp_path / "log.txt").write_text("error: disk full\n")
    assert cli.ask("-m", "M", "-f", str(tmp_path / "log.txt"), "-f", str(img), "what broke?").returncode == 0
    b64 = base64.b64encode(data).decode()

    wal = home / "history.db-wal"
    db = (home / "history.db").read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b64[:200].encode() not in db
    conn = sqlite3.connect(home / "history.db")
    stored = json.loads(conn.execute("SELECT attachments FROM messages WHERE role = 'user'").fetchone()[0])
    conn.close()
    assert stored == [
        {"type": "text", "name": str(tmp_path / "log.txt"), "path": str(tmp_path / "log.txt"), "size": 17,
         "sha256": hashlib.sha256(b"error: disk full\n").hexdigest(), "language": "", "text": "error: disk full\n"},
        {"type": "image", "name": str(img), "path": str(img), "mime": "image/png", "size": len(data),
         "sha256": hashlib.sha256(data).hexdigest()},
    ]  # fmt: skip

    # -c sends the earlier turn again: the file's text, and the image read again from its path
    r = cli.ask("-m", "M", "-c", "and now?")
    assert r.returncode == 0 and r.stderr == "", r
    earlier_user = server.chat_requests()[-1].body["messages"][0]
    assert earlier_user["content"][0]["text"].startswith(f"File: {tmp_path / 'log.txt'}\n")
    assert earlier_user["content"][1]["image_url"]["url"] == f"data:image/png;base64,{b64}"
    assert earlier_user["content"][2] == {"type": "text", "text": "what broke?"}

    img.unlink()  # gone: said on stderr, the conversation still goes (without it)
    r = cli.ask("-m", "M", "-c", "again")
    assert r.returncode == 0, r
    assert f"image {img} no longer exists" in r.stderr
    earlier_user = server.chat_requests()[-1].body["messages"][0]
    # no image left: the turn is plain text again, what every server takes
    assert (
        earlier_user["content"] == f"File: {tmp_path / 'log.txt'}\n```\nerror: disk full\n```\n\nwhat broke?"
    )


def test_history_show_and_export_show_attachments_as_what_they_are(cli, server, tmp_path):
    img = tmp_path / "a.gif"
    img.write_bytes(IMAGES["image/gif"])
    (tmp_path / "x.py").write_text("x = 1\n")
    assert (
        cli.ask(
            "-m", "M", "-f", str(tmp_path / "x.py"), "-f", str(img), "-f", "http://h/i.webp", "q"
        ).returncode
        == 0
    )
    shown = json.loads(cli("history", "show", "--format", "json").stdout)
    atts = shown["messages"][0]["attachments"]
    assert [a["type"] for a in atts] == ["text", "image", "image"]
    assert (
        atts[0]["text"] == "x = 1\n"
        and atts[1]["mime"] == "image/gif"
        and atts[2]["url"] == "http://h/i.webp"
    )
    assert shown["messages"][0]["content"] == "q"
    md = cli("history", "export", shown["id"], "--format", "markdown").stdout
    assert f"File: {tmp_path / 'x.py'}\n```python\nx = 1\n```" in md
    assert f"*Image:* `{img}` (image/gif" in md and "*Image:* `http://h/i.webp` (image URL)" in md
    line = json.loads(cli("history", "export", shown["id"]).stdout)
    assert line["messages"][0]["attachments"] == atts
    assert "base64" not in md and "base64" not in json.dumps(line)


def test_format_json_lists_the_attachments(cli, server, tmp_path):
    (tmp_path / "n.txt").write_text("abc")
    r = cli.ask("-m", "M", "--format", "json", "-f", str(tmp_path / "n.txt"), "q")
    doc = json.loads(r.stdout)
    assert doc["attachments"] == [
        {"type": "text", "name": str(tmp_path / "n.txt"), "path": str(tmp_path / "n.txt"), "size": 3,
         "sha256": hashlib.sha256(b"abc").hexdigest(), "language": ""},
    ]  # fmt: skip


def test_a_server_that_refuses_images_gets_a_vision_hint_with_its_own_words(cli, server, tmp_path):
    (tmp_path / "i.png").write_bytes(IMAGES["image/png"])
    server.push(Scenario(status=400, error_body={"error": {"message": "Invalid content type. image_url is only supported by certain models.", "type": "invalid_request_error"}}))  # fmt: skip
    r = cli.ask("-m", "M", "-f", str(tmp_path / "i.png"), "what is it")
    assert r.returncode == 4, r
    assert "image_url is only supported by certain models" in r.stderr
    assert "may not be a vision model" in r.stderr and r.stderr.count("\n") == 1
    # the same 400 without an image: no such hint
    server.push(Scenario(status=400))
    r = cli.ask("-m", "M", "plain")
    assert r.returncode == 4 and "vision" not in r.stderr


def test_bad_image_detail_is_a_usage_error(cli, server):
    r = cli.ask("-m", "M", "-f", "https://x/y.png", "--image-detail", "ultra", "q")
    assert r.returncode == 2 and "--image-detail" in r.stderr and server.requests == []


def test_repl_file_attaches_to_the_next_message(cli, server, tmp_path, home):
    (tmp_path / "n.txt").write_text("note")
    script = f"/file {tmp_path / 'n.txt'}\n/file\nfirst\nsecond\n/save {tmp_path / 't.md'}\n"
    r = cli("chat", "--base-url", server.base_url, "-m", "M", input=script)
    assert r.returncode == 0, r
    first, second = server.chat_requests()
    assert first.body["messages"][-1]["content"] == f"File: {tmp_path / 'n.txt'}\n```\nnote\n```\n\nfirst"
    # later turns send the earlier one as it was, attachments included; the new one goes without
    assert second.body["messages"][0]["content"] == first.body["messages"][-1]["content"]
    assert second.body["messages"][-1]["content"] == "second"
    assert "attached" in r.stderr and "n.txt (text, 4 bytes)" in r.stderr
    assert (
        f"## User\n\nAttached: {tmp_path / 'n.txt'} (text, 4 bytes)\n\nfirst\n"
        in (tmp_path / "t.md").read_text()
    )


def test_chat_dash_f_goes_with_the_first_message(cli, server, tmp_path):
    (tmp_path / "i.webp").write_bytes(IMAGES["image/webp"])
    r = cli("chat", "--base-url", server.base_url, "-m", "M", "-f", str(tmp_path / "i.webp"), input="look\n")
    assert r.returncode == 0, r
    content = last_user(server)
    assert (
        content[0]["image_url"]["url"].startswith("data:image/webp;base64,") and content[1]["text"] == "look"
    )


def test_files_are_read_before_anything_is_sent_even_models(cli, server, tmp_path):
    # without -m llmcli would ask /models for the only model: a bad file stops it before that too
    r = cli.ask("-f", str(tmp_path / "nope"), "hi")
    assert r.returncode == 2 and server.requests == []


def test_the_file_path_in_history_is_absolute(cli, server, tmp_path, home):
    (tmp_path / "rel.txt").write_text("r")
    import os
    import subprocess
    import sys

    env = dict(cli.env)
    subprocess.run(
        [sys.executable, "-m", "llmcli", "ask", "--base-url", server.base_url, "-m", "M", "-f", "rel.txt", "q"],
        cwd=tmp_path, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    shown = json.loads(cli("history", "show", "--format", "json").stdout)
    assert shown["messages"][0]["attachments"][0]["path"] == os.path.join(str(tmp_path), "rel.txt")
    assert shown["messages"][0]["attachments"][0]["name"] == "rel.txt"
    assert Path(shown["messages"][0]["attachments"][0]["path"]).is_absolute()


def test_real_server_without_vision_says_why(llama_server, home, tmp_path):
    """llama.cpp without a vision projector answers 500 "image input is not supported": the server's
    words stay, and the hint says the model may not take images."""
    from conftest import Cli

    (tmp_path / "i.png").write_bytes(IMAGES["image/png"])
    srv = llama_server()
    r = Cli(home, None)(
        "ask", "--base-url", srv.base_url, "--max-retries", "0", "-f", str(tmp_path / "i.png"), "what is it"
    )
    assert_no_traceback(r.stderr)
    assert r.returncode == 6, r
    assert "image input is not supported" in r.stderr and "may not be a vision model" in r.stderr
    # a text attachment is just text to it
    (tmp_path / "n.txt").write_text("hello")
    r = Cli(home, None)(
        "ask", "--base-url", srv.base_url, "--max-tokens", "4", "-f", str(tmp_path / "n.txt"), "q"
    )
    assert r.returncode == 0, r


def test_both_transports_send_the_same_shaped_body(cli, server, tmp_path):
    (tmp_path / "i.png").write_bytes(IMAGES["image/png"])
    (tmp_path / "a.py").write_text("x = 1\n")
    server.default = Scenario(text='{"n": 1}')
    bodies = []
    for transport in ("http", "sdk"):
        r = cli.ask("--transport", transport, "-m", "M", "-f", str(tmp_path / "a.py"), "-f", str(tmp_path / "i.png"),
                    "--image-detail", "high", "--schema", "n int", "q")  # fmt: skip
        assert r.returncode == 0, r
        bodies.append(server.chat_requests()[-1].body)
    assert bodies[0] == bodies[1]
    assert bodies[0]["messages"][-1]["content"][1]["image_url"]["detail"] == "high"
