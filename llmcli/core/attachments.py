"""Attachments (`-f/--file PATH|URL|-`, the REPL's `/file`): files and images → parts of the user's turn.

Pure Python, standard library only. What a file becomes is decided by its content, not its name:

- an image (png, jpeg, webp, gif, recognised by their magic bytes) → an `image_url` content part; a
  local file goes as a base64 data URL with its MIME type, an `http(s)://` URL as the URL itself (llmcli
  never fetches it: the server does);
- valid UTF-8 text without NUL bytes → a delimited block in the user's message: a `File: NAME` line,
  then the text in a code fence tagged with a language from the extension, the fence longer than any
  run of backticks inside the text;
- anything else (binary, other encodings), a directory, a missing file, a file over the size limit →
  UsageError (exit 2) naming the file, before anything is sent.

History keeps what was sent without megabytes of base64 (`to_record`): the text of a text attachment,
and for an image its path or URL, MIME type, size and sha256. `restore` turns such a record back into
an attachment for `-c`, re-reading an image from its path when it is still there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import UsageError

TEXT, IMAGE = "text", "image"
DETAILS = ("low", "high", "auto")
# Per file. OpenAI takes images up to 20 MB; a text file this big is far past any context window, so the
# limit only stops mistakes (a log of gigabytes, a disk image), never a real attachment.
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
STDIN = "-"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.I)


def parse_size(text: str) -> int:
    """`--max-file-bytes`: a number of bytes, or with a unit: 512k, 20M, 1G (powers of 1024)."""
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(
            f"--max-file-bytes wants a size like 500000, 512k or 20M, not {text!r}",
        )
    number, unit = float(m.group(1)), (m.group(2) or "b").lower()[:1]
    size = int(number * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit])
    if size < 1:
        raise UsageError("--max-file-bytes must be at least 1 byte")
    return size


def human_size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


# --- what a file is ---------------------------------------------------------------------------------


def sniff_image(head: bytes) -> str | None:
    """The MIME type of a png, jpeg, webp or gif from its first bytes, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


_KNOWN_BINARY = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (also docx, xlsx, jar, ...)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


def _binary_kind(data: bytes) -> str:
    for magic, what in _KNOWN_BINARY:
        if data.startswith(magic):
            return what
    return "binary data"


# Extension (or whole file name) → the code fence's language tag.
_LANGUAGES = {
    "py": "python", "pyi": "python", "js": "javascript", "mjs": "javascript", "cjs": "javascript",
    "ts": "typescript", "tsx": "tsx", "jsx": "jsx", "rs": "rust", "go": "go", "c": "c", "h": "c",
    "cc": "cpp", "cpp": "cpp", "cxx": "cpp", "hpp": "cpp", "hh": "cpp", "cs": "csharp", "java": "java",
    "kt": "kotlin", "kts": "kotlin", "swift": "swift", "rb": "ruby", "php": "php", "pl": "perl",
    "lua": "lua", "r": "r", "scala": "scala", "hs": "haskell", "ml": "ocaml", "ex": "elixir",
    "exs": "elixir", "erl": "erlang", "clj": "clojure", "dart": "dart", "zig": "zig", "nim": "nim",
    "sh": "bash", "bash": "bash", "zsh": "zsh", "fish": "fish", "ps1": "powershell", "bat": "batch",
    "sql": "sql", "html": "html", "htm": "html", "xml": "xml", "svg": "xml", "css": "css",
    "scss": "scss", "sass": "sass", "less": "less", "vue": "vue", "svelte": "svelte",
    "json": "json", "jsonl": "json", "yaml": "yaml", "yml": "yaml", "toml": "toml", "ini": "ini",
    "cfg": "ini", "conf": "ini", "md": "markdown", "markdown": "markdown", "rst": "rst", "tex": "latex",
    "csv": "csv", "tsv": "tsv", "diff": "diff", "patch": "diff", "proto": "protobuf",
    "graphql": "graphql", "tf": "hcl", "hcl": "hcl", "nix": "nix", "vim": "vim", "el": "elisp",
    "dockerfile": "dockerfile", "makefile": "makefile", "mk": "makefile", "cmake": "cmake",
    "gradle": "groovy", "groovy": "groovy", "txt": "", "log": "",
}  # fmt: skip
_NAMED = {"dockerfile": "dockerfile", "makefile": "makefile", "gnumakefile": "makefile",
          "cmakelists.txt": "cmake", "gemfile": "ruby", "rakefile": "ruby", "justfile": "just"}  # fmt: skip


def language_of(name: str) -> str:
    base = os.path.basename(name).lower()
    if base in _NAMED:
        return _NAMED[base]
    stem, dot, ext = base.rpartition(".")
    return _LANGUAGES.get(ext, "") if dot and stem else ""


# --- the attachment ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # TEXT or IMAGE
    name: str  # as the user gave it: shown in the text block and in messages
    path: str | None = None  # the absolute path of a local file (None for stdin and URLs)
    url: str | None = None  # an http(s) image URL, passed through as is
    mime: str | None = None
    size: int | None = None
    sha256: str | None = None
    language: str = ""  # text: the code fence's tag
    text: str | None = None  # text: the content sent
    data: bytes | None = None  # a local image's bytes: sent as base64, never stored
    detail: str | None = None  # image: low, high or auto (sent only when given)
    missing: bool = False  # restored from history, but the file is gone: not sent

    @property
    def is_image(self) -> bool:
        return self.kind == IMAGE

    def describe(self) -> str:
        """One line for stderr and the REPL: what was attached."""
        if self.kind == TEXT:
            return f"{self.name} (text, {human_size(self.size or 0)})"
        if self.url:
            return f"{self.url} (image URL)"
        return f"{self.name} ({self.mime}, {human_size(self.size or 0)})"

    def to_record(self) -> dict[str, Any]:
        """What history keeps: the text of a text file; for an image a reference, never the bytes."""
        rec: dict[str, Any] = {"type": self.kind, "name": self.name}
        for key in ("path", "url", "mime", "size", "sha256"):
            value = getattr(self, key)
            if value is not None:
                rec[key] = value
        if self.kind == TEXT:
            rec["language"] = self.language
            rec["text"] = self.text or ""
        elif self.detail:
            rec["detail"] = self.detail
        return rec

    # --- on the wire ------------------------------------------------------------------------------

    def data_url(self) -> str:
        import base64  # with hashlib, only when a file is attached: not on every command's startup

        assert self.data is not None
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def image_part(self) -> dict[str, Any]:
        image: dict[str, Any] = {"url": self.url if self.url else self.data_url()}
        if self.detail:
            image["detail"] = self.detail
        return {"type": "image_url", "image_url": image}


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in the text (at least three)."""
    fence = "```"
    while fence in text:  # substring search runs at memory speed; a regex scan of megabytes does not
        fence += "`"
    return fence


def text_block(att: Attachment) -> str:
    """`File: NAME`, then the text in a fence tagged with its language."""
    body = att.text or ""
    fence = fence_for(body)
    if body and not body.endswith("\n"):
        body += "\n"
    return f"File: {att.name}\n{fence}{att.language}\n{body}{fence}"


def message_text(prompt: str, attachments: Sequence[Attachment]) -> str:
    """The user's turn as text: each text attachment's block in order, then the prompt."""
    blocks = [text_block(a) for a in attachments if a.kind == TEXT]
    if prompt:
        blocks.append(prompt)
    return "\n\n".join(blocks)


def wire_content(prompt: str, attachments: Sequence[Attachment]) -> str | list[dict[str, Any]]:
    """The `content` of the user's message: a string when there is no image (what every server takes),
    else content parts in the order given, the prompt last. Images that are missing are left out."""
    sendable = [a for a in attachments if not a.missing]
    if not any(a.is_image for a in sendable):
        return message_text(prompt, sendable)
    parts: list[dict[str, Any]] = []
    for a in sendable:
        if a.is_image:
            parts.append(a.image_part())
        else:
            parts.append({"type": "text", "text": text_block(a)})
    if prompt:
        parts.append({"type": "text", "text": prompt})
    return parts


def abbreviate_images(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a request body with each base64 data URL replaced by a short description, for showing
    a request (debug output, a printed request) without megabytes of base64."""
    out = dict(body)
    messages = []
    for msg in body.get("messages") or ():
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list):
            parts = []
            for part in content:
                url = (part.get("image_url") or {}).get("url") if isinstance(part, dict) else None
                if isinstance(url, str) and url.startswith("data:"):
                    head, _, data = url.partition(",")
                    part = {
                        **part,
                        "image_url": {**part["image_url"], "url": f"{head},<{len(data)} base64 chars>"},
                    }
                parts.append(part)
            msg = {**msg, "content": parts}
        messages.append(msg)
    out["messages"] = messages
    return out


# --- loading ----------------------------------------------------------------------------------------


def is_url(spec: str) -> bool:
    return spec.lower().startswith(("http://", "https://"))


def load(
    spec: str,
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    detail: str | None = None,
    stdin: BinaryIO | None = None,
) -> Attachment:
    """One `-f` value: a path, an http(s) URL (an image the server fetches), or `-` (stdin)."""
    if detail is not None and detail not in DETAILS:
        raise UsageError(f"--image-detail must be low, high or auto, not {detail!r}")
    if is_url(spec):
        return Attachment(IMAGE, spec, url=spec, detail=detail)
    if spec == STDIN:
        if stdin is None:
            raise UsageError(
                "-f - reads stdin, but stdin is a terminal", hint="pipe the file in: ... | llmcli ask -f -"
            )
        data = stdin.read(max_bytes + 1)
        return _from_bytes("stdin", None, data, max_bytes=max_bytes, detail=detail)
    path = Path(spec).expanduser()
    try:
        if path.is_dir():
            raise UsageError(
                f"{spec} is a directory",
                hint=f"attach its files: -f {spec.rstrip('/')}/*.py (the shell expands the pattern)",
            )
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise _too_big(spec, size, max_bytes)
            data = fh.read(max_bytes + 1)  # a file still growing cannot slip past the limit
    except FileNotFoundError:
        raise UsageError(f"{spec}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{spec} is a directory", hint="attach its files one by one") from None
    except PermissionError:
        raise UsageError(f"{spec}: permission denied", hint="check the file's permissions") from None
    except OSError as exc:
        raise UsageError(f"cannot read {spec}: {exc.strerror or exc}") from None
    return _from_bytes(spec, str(path.resolve()), data, max_bytes=max_bytes, detail=detail)


def _too_big(name: str, size: int, limit: int) -> UsageError:
    return UsageError(
        f"{name} is {human_size(size)}, over the limit of {human_size(limit)} per file",
        hint="raise it with --max-file-bytes (e.g. 50M), or attach a part of the file",
    )


def _from_bytes(
    name: str, path: str | None, data: bytes, *, max_bytes: int, detail: str | None
) -> Attachment:
    import hashlib

    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    mime = sniff_image(data[:16])
    if mime is not None:
        return Attachment(
            IMAGE, name, path=path, mime=mime, size=len(data), sha256=digest, data=data, detail=detail
        )
    if b"\x00" in data:
        raise _binary(name, data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{name} is not UTF-8 text (byte offset {exc.start}) and not a png/jpeg/webp/gif image",
            hint=f"convert it first (iconv -f latin1 -t utf-8 {name} | llmcli ask -f - ...)"
            if _looks_textual(data)
            else "only text files and png, jpeg, webp or gif images can be attached",
        ) from None
    text = text.removeprefix("\ufeff")  # a byte order mark is not part of the text
    return Attachment(
        TEXT, name, path=path, size=len(data), sha256=digest, language=language_of(name), text=text
    )


def _looks_textual(data: bytes) -> bool:
    sample = data[:4096]
    printable = sum(1 for b in sample if b >= 0x20 or b in (9, 10, 13))
    return bool(sample) and printable / len(sample) > 0.95


def _binary(name: str, data: bytes) -> UsageError:
    return UsageError(
        f"{name} is {_binary_kind(data)}, not text or a png/jpeg/webp/gif image",
        hint="only text files and png, jpeg, webp or gif images can be attached",
    )


def load_all(
    specs: Iterable[str],
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    detail: str | None = None,
    stdin: BinaryIO | None = None,
) -> list[Attachment]:
    specs = list(specs)
    if specs.count(STDIN) > 1:
        raise UsageError("-f - (stdin) can be given only once")
    return [load(s, max_bytes=max_bytes, detail=detail, stdin=stdin) for s in specs]


def explain_refusal(error: Exception | None, messages: Iterable[Any]) -> None:
    """A request with images that the server refused: add the likely reason to the error's hint (the
    server's own words stay in its message). OpenAI-style servers answer 400; llama.cpp without a
    vision projector answers 500 "image input is not supported"."""
    from ..errors import TransportError

    if not isinstance(error, TransportError) or error.status is None:
        return
    sent_images = any(a.is_image and not a.missing for m in messages for a in getattr(m, "attachments", ()))
    if not sent_images:
        return
    said = (error.server_message or "").lower()
    if error.status in (400, 415, 422) or "image" in said or "vision" in said or "multimodal" in said:
        error.hint = (
            "the model may not be a vision model (it did not take the image): choose one that takes "
            "images with -m, or leave the image out"
        )


def restore_messages(
    messages: list[Any] | None, warn: Callable[[str], None] | None = None
) -> list[Any] | None:
    """Earlier turns from history (attachments as stored records) made ready to send again (see
    `restore`); each image that cannot be sent as it was is reported through `warn`."""
    if messages is None:
        return None
    out = []
    for m in messages:
        if m.attachments and isinstance(m.attachments[0], dict):
            m = replace(m, attachments=restore_all(m.attachments, warn))
        out.append(m)
    return out


# --- from history -----------------------------------------------------------------------------------


def restore(
    record: dict[str, Any], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[Attachment, str | None]:
    """A stored attachment, ready to send again, and a note for stderr when it is not the same.

    A text attachment is re-sent as the text that was sent (history holds it). An image is read again
    from its path: when the path is gone (or unreadable, or no longer an image) the attachment comes back
    `missing` (left out of the request) with a note; when its content changed it is sent as it is now.
    """
    kind = record.get("type", TEXT)
    name = str(record.get("name") or record.get("path") or record.get("url") or "?")
    if kind == TEXT:
        return Attachment(
            TEXT,
            name,
            path=record.get("path"),
            size=record.get("size"),
            sha256=record.get("sha256"),
            language=record.get("language", ""),
            text=record.get("text", ""),
        ), None
    base = Attachment(
        IMAGE,
        name,
        path=record.get("path"),
        url=record.get("url"),
        mime=record.get("mime"),
        size=record.get("size"),
        sha256=record.get("sha256"),
        detail=record.get("detail"),
    )
    if base.url:
        return base, None
    if not base.path:  # an image that came from stdin: nothing to read it from again
        return replace(base, missing=True), f"image {name} (from stdin) cannot be sent again; left out"
    try:
        with open(base.path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        why = "no longer exists" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"
        return replace(base, missing=True), f"image {base.path} {why}; sent the conversation without it"
    mime = sniff_image(data[:16])
    if mime is None or len(data) > max_bytes:
        return replace(base, missing=True), f"image {base.path} is no longer an image; left out"
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    note = None
    if base.sha256 and digest != base.sha256:
        note = f"image {base.path} changed since it was sent; sending it as it is now"
    return replace(base, data=data, mime=mime, size=len(data), sha256=digest), note


def restore_all(
    records: Iterable[dict[str, Any]] | None, warn: Callable[[str], None] | None = None
) -> tuple[Attachment, ...]:
    out = []
    for rec in records or ():
        att, note = restore(rec)
        if note and warn is not None:
            warn(note)
        out.append(att)
    return tuple(out)
