"""Where the API key comes from: LLMCLI_API_KEY → the profile's key in the OS keyring → OPENAI_API_KEY.

The keyring is slow to import and may hang or fail on a headless box, so it is only reached through
the `keyring_lookup` callable, and only when LLMCLI_API_KEY does not already decide. Nothing here
prints, logs or formats a key; `mask` is the only way a key is ever shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class KeyLookup:
    """The outcome of asking a keyring: a key, nothing stored, or the keyring could not be read."""

    key: str | None
    backend: str = ""  # the backend's display name, when known
    problem: str | None = None  # set when the keyring could not be read


@dataclass(slots=True)
class ResolvedKey:
    key: str | None
    source: str  # "env LLMCLI_API_KEY", "keyring (SecretService Keyring)", "env OPENAI_API_KEY", "none"
    warning: str | None = None  # e.g. the keyring could not be read
    keyring_unusable: bool = False  # the warning is about a keyring that could not be read
    keyring_backend: str | None = None  # the backend asked (None: the keyring was not consulted)

    @property
    def defect(self) -> str | None:
        """Why the key cannot be sent ("contains a line break at character 52"), or None."""
        return key_defect(self.key) if self.key else None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"ResolvedKey(key={'<set>' if self.key else None}, source={self.source!r})"


def resolve_key(
    profile: str,
    env: Mapping[str, str],
    keyring_lookup: Callable[[str], KeyLookup] | None = None,
    *,
    marked: bool = False,
) -> ResolvedKey:
    """The key to send, by CONTRACT.md's precedence, touching the keyring only when it can matter.

    `marked` is the profile's `key_in_keyring` flag (written by `auth login`). Only a marked profile
    sends anyone to the keyring (its key then outranks OPENAI_API_KEY): a run with no key, or with an
    environment key, never imports keyring, never waits for D-Bus and never warns about it.
    """
    key = env.get("LLMCLI_API_KEY", "").strip()
    if key:
        return ResolvedKey(key, "env LLMCLI_API_KEY")
    openai_key = env.get("OPENAI_API_KEY", "").strip()
    warning = None
    unusable = False
    backend = None
    if keyring_lookup is not None and marked:
        found = keyring_lookup(profile)
        backend = found.backend or "keyring"
        label = f"the OS keyring ({found.backend})" if found.backend else "the OS keyring"
        stored = (found.key or "").strip()  # as with the environment: surrounding whitespace is no part of it
        if stored:
            return ResolvedKey(stored, f"keyring ({backend})", keyring_backend=backend)
        if found.problem:
            unusable = True
            warning = f"{label} could not be read: {found.problem}"
        else:
            warning = f"profile {profile!r} is marked as having a key in {label}, but none is stored there"
    if openai_key:
        return ResolvedKey(openai_key, "env OPENAI_API_KEY", warning, unusable, backend)
    return ResolvedKey(None, "none", warning, unusable, backend)


def explain(resolved: ResolvedKey, profile: str) -> str:
    """For a 401/403: which key was sent (or that none was), and what was not tried. Never the key."""
    login = f"`llmcli auth login -P {profile}`"
    if resolved.warning:
        return resolved.warning  # the keyring's trouble: the likely reason (the caller adds the way out)
    if resolved.key is None:
        return (
            "no key was sent: LLMCLI_API_KEY and OPENAI_API_KEY are not set and profile "
            f"{profile!r} has no key stored by `llmcli auth login` (so the OS keyring was not asked); "
            f"store one with {login}, or set LLMCLI_API_KEY"
        )
    if resolved.source.startswith("env "):
        name = resolved.source[4:]
        return f"the key sent came from {name}: check it (`llmcli auth status`)" + (
            "" if name == "LLMCLI_API_KEY" else f"; or set LLMCLI_API_KEY, or run {login}"
        )
    if resolved.source.startswith("keyring"):
        return f"the key sent is profile {profile!r}'s key from the {resolved.source}: store the right one with {login}"
    return "check the key: `llmcli auth status`; set LLMCLI_API_KEY or run `llmcli auth login`"


def key_defect(key: str) -> str | None:
    """What makes `key` impossible as an HTTP header value (or surely not a key), naming the first place:
    "contains a line break at character 52". Never quotes the key: only what is wrong and where."""
    if key.isascii() and key.isprintable() and " " not in key:
        return None  # the usual case: one word of printable ASCII
    for i, ch in enumerate(key, 1):
        code = ord(ch)
        if 0x21 <= code <= 0x7E:
            continue
        if ch == "\n":
            what = "a line break"
        elif ch == "\r":
            what = "a carriage return (CR)"
        elif ch == " ":
            what = "a space"
        elif ch == "\t":
            what = "a tab"
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as Python decodes the environment
            what = f"a byte that is not UTF-8 (0x{code - 0xDC00:02x})"
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            what = f"a control character (U+{code:04X})"
        else:
            what = f"a non-ASCII character (U+{code:04X})"
        return f"contains {what} at character {i}"
    return None


def mask(key: str | None) -> str:
    """`sk-…abcd`: enough to tell keys apart, never enough to use one.

    A key with a defect is masked by its well-formed beginning only: what follows a line break may be
    a second secret (the next line of a key file), and a control character must not reach a terminal.
    """
    if not key:
        return "(none)"
    if key_defect(key) is not None:
        end = next(i for i, ch in enumerate(key) if not 0x21 <= ord(ch) <= 0x7E)
        key = key[:end]
        if len(key) < 8:
            return "…"
    head = key[:3] if len(key) >= 12 else ""
    tail = key[-4:] if len(key) >= 8 else ""
    return f"{head}…{tail}" if (head or tail) else "…"


def redact(text: str, *secrets: str | None) -> str:
    """Replace every secret (and its most likely encodings) in text that is about to be shown."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, mask(secret))
    return text


# Secrets in play in this process, so the error boundary can scrub any text it shows: each with what
# stands in its place (a key's masked form; `***` for a password).
_SECRETS: dict[str, str] = {}


def remember_secret(secret: str, shown: str | None = None) -> None:
    if secret:
        _SECRETS[secret] = shown if shown is not None else mask(secret)
        # A malformed key (two lines of a key file, a stray control character) may be shown in pieces.
        if shown is None and key_defect(secret) is not None:
            for piece in _PIECES.split(secret):
                if len(piece) >= 8:
                    _SECRETS[piece] = mask(piece)


_PIECES = re.compile(r"[^\x21-\x7e]+")


def scrub(text: str) -> str:
    # Longest first: a secret that contains another is replaced whole.
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, _SECRETS[secret])
    return text
