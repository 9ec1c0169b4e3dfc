"""Arguments and environment values that are not UTF-8.

Python hands such bytes over as lone surrogates (`\\udcff` for the byte 0xff), which fail much later —
when the prompt is encoded into JSON, a path into SQLite — as an internal error. They are refused up
front instead, as usage errors that name the argument or variable and the byte. Standard library only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ..errors import UsageError

# Keys are checked where they are resolved, with what else makes a key unusable (exit 3).
KEY_VARIABLES = ("LLMCLI_API_KEY", "OPENAI_API_KEY")
# Besides LLMCLI_*: the other variables llmcli reads values from.
READ_VARIABLES = ("OPENAI_BASE_URL",)


def first_bad_byte(text: str) -> tuple[int, int] | None:
    """(byte offset, byte) of the first byte that was not UTF-8, or None when `text` is clean."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        offset = len(text[: exc.start].encode("utf-8", "surrogateescape"))
        code = ord(text[exc.start])
        return offset, code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else code


def _shown(text: str, limit: int = 40) -> str:
    """The argument as the user typed it, bytes that are not UTF-8 as \\xNN, cut to `limit` characters."""
    raw = text.encode("utf-8", "surrogateescape")
    shown = raw.decode("utf-8", "backslashreplace")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def check_arguments(argv: Sequence[str], value_options: Collection[str] = ()) -> None:
    """Exit 2 for the first argument that is not UTF-8, naming it (`the value of -m`, `argument 3`).

    `value_options` are the option names that take a value (so the next argument is that value)."""
    for i, arg in enumerate(argv):
        bad = first_bad_byte(arg)
        if bad is None:
            continue
        offset, byte = bad
        prev = argv[i - 1] if i > 0 else ""
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            what = f"the value of {name}"
            offset, byte = first_bad_byte(value) or bad
        elif prev in value_options:
            what = f"the value of {prev}"
        elif arg.startswith("-") and arg != "-":
            what = f"option '{_shown(arg)}'"
        else:
            what = f"argument {i + 1} ('{_shown(arg)}')"
        raise UsageError(
            f"{what} is not valid UTF-8 (byte 0x{byte:02x} at offset {offset})",
            hint="give it as UTF-8 text (convert it first, e.g. with iconv -t utf-8)",
        )


def check_environment(env: Mapping[str, str]) -> None:
    """Exit 2 for the first LLMCLI_* (or other variable llmcli reads) whose value is not UTF-8."""
    for name in sorted(env):
        if name in KEY_VARIABLES or not (name.startswith("LLMCLI_") or name in READ_VARIABLES):
            continue
        bad = first_bad_byte(env[name])
        if bad is not None:
            offset, byte = bad
            raise UsageError(
                f"the environment variable {name} is not valid UTF-8 (byte 0x{byte:02x} at offset {offset})",
                hint=f"set {name} to UTF-8 text, or unset it",
            )
