"""Where the API key comes from: LLMCLI_API_KEY → the profile's key in the OS keyring → OPENAI_API_KEY.

The keyring is slow to import and may hang or fail on a headless box, so it is only reached through
the `keyring_lookup` callable, and only when LLMCLI_API_KEY does not already decide. Nothing here
prints, logs or formats a key; `mask` is the only way a key is ever shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class KeyLookup:
    """The outcome of asking a keyring: a key, nothing stored, or the keyring could not be read."""

    key: str | None
    backend: str = "keyring"
    problem: str | None = None  # set when the keyring could not be read


@dataclass(slots=True)
class ResolvedKey:
    key: str | None
    source: str  # "env LLMCLI_API_KEY", "keyring (SecretService Keyring)", "env OPENAI_API_KEY", "none"
    warning: str | None = None  # e.g. the keyring could not be read

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"ResolvedKey(key={'<set>' if self.key else None}, source={self.source!r})"


def resolve_key(
    profile: str,
    env: Mapping[str, str],
    keyring_lookup: Callable[[str], KeyLookup] | None = None,
) -> ResolvedKey:
    key = env.get("LLMCLI_API_KEY", "").strip()
    if key:
        return ResolvedKey(key, "env LLMCLI_API_KEY")
    warning = None
    if keyring_lookup is not None:
        found = keyring_lookup(profile)
        if found.key:
            return ResolvedKey(found.key, f"keyring ({found.backend})")
        warning = found.problem
    key = env.get("OPENAI_API_KEY", "").strip()
    if key:
        return ResolvedKey(key, "env OPENAI_API_KEY")
    return ResolvedKey(None, "none", warning)


def mask(key: str | None) -> str:
    """`sk-…abcd`: enough to tell keys apart, never enough to use one."""
    if not key:
        return "(none)"
    head = key[:3] if len(key) >= 12 else ""
    tail = key[-4:] if len(key) >= 8 else ""
    return f"{head}…{tail}" if (head or tail) else "…"


def redact(text: str, *secrets: str | None) -> str:
    """Replace every secret (and its most likely encodings) in text that is about to be shown."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, mask(secret))
    return text


# Secrets in play in this process, so the error boundary can scrub any text it shows.
_SECRETS: set[str] = set()


def remember_secret(secret: str) -> None:
    if secret:
        _SECRETS.add(secret)


def scrub(text: str) -> str:
    return redact(text, *_SECRETS)
