"""Deterministic answer text for the benchmarks: markdown-ish lorem, cut into small "tokens".

A token is one SSE content chunk of a few characters (a word plus the space or newline after it),
which is roughly what real servers send. The same function runs in the benchmark and in the server
process, so the expected output is known without asking the server.
"""

from __future__ import annotations

import random

_WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
    "et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip "
    "ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla "
    "pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim "
    "id est laborum café naïve déjà-vu über 東京 `code` **bold** _emphasis_"
).split()

ONESHOT_TEXT = "Hello from the reference server: this is the one-shot answer."


def tokens(n: int, seed: int = 1234) -> list[str]:
    """Exactly ``n`` content pieces whose concatenation reads as a markdown document."""
    rng = random.Random(seed)
    out: list[str] = []
    section = 0

    def sentence(end: str) -> None:
        length = rng.randint(4, 16)
        for i in range(length):
            word = rng.choice(_WORDS)
            if i == 0:
                word = word[:1].upper() + word[1:]
            if i == length - 1:
                out.append(word + end)
            else:
                out.append(word + rng.choice([" "] * 9 + [", "]))

    while len(out) < n:
        kind = rng.random()
        if kind < 0.1:
            section += 1
            out.extend(["## ", "Section ", f"{section}\n\n"])
        elif kind < 0.35:
            items = rng.randint(2, 5)
            for i in range(items):
                out.append("- ")
                sentence("\n" if i < items - 1 else "\n\n")
        else:
            sentences = rng.randint(1, 4)
            for i in range(sentences):
                sentence(". " if i < sentences - 1 else ".\n\n")
    return out[:n]


def text(n: int) -> str:
    return "".join(tokens(n))
