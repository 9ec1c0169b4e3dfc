"""Where bench's prompts come from: synthetic text of a given length, a JSONL file, or ShareGPT.

Every source is an endless iterator of Prompt (a file is read once and cycled when the run needs more
requests than it has lines: `Dataset.wrapped` says so). Lengths here are what was *asked* for; the
report uses what the server counted (usage) whenever it says.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..load.types import text_tokens

# Common English words that byte-level BPE vocabularies (GPT, Llama, Qwen, Mistral) hold as one token
# with their leading space, so a prompt of N words is close to N tokens. Drawn at random for every
# prompt: no two prompts share a prefix longer than a word or two, so a prefix cache saves nothing.
WORDS = tuple(
    dict.fromkeys(
        """
    time year people way day man thing woman life child world school state family student group country
    problem hand part place case week company system program question work government number night point
    home water room mother area money story fact month lot right study book eye job word business issue
    side kind head house service friend father power hour game line end member law car city community
    name president team minute idea kid body information back parent face others level office door health
    person art war history party result change morning reason research girl guy moment air teacher force
    education foot boy age policy music market sense nation plan college interest death experience effect
    class control care field development role effort rate heart drug show leader light voice wife police
    mind price report decision son view relationship town road arm difference value building action model
    season society tax director position player record paper space ground form event official matter
    center couple site project activity star table need court oil situation cost industry figure street
    image phone data picture practice piece land product doctor wall patient worker news test movie north
    love support technology step baby computer type attention film tree source organization hair window
    evidence population site truth island river garden summer winter autumn spring ocean forest mountain
    valley village bridge castle engine letter signal garden bread coffee apple orange stone silver gold
    iron glass paper cotton wood metal plant animal bird fish horse dog cat river lake sea coast hill
    road path train ship plane wheel chair bed box bag cup plate knife table lamp clock key lock map
    good new first last long great little own other old right big high different small large next early
    young important few public bad same able late hard major better economic strong possible whole free
    military true federal international full special easy clear recent certain personal open red
    difficult available likely short single medical current wrong private past foreign fine common poor
    natural significant similar hot dead central happy serious ready simple left physical general
    environmental financial blue democratic dark various entire close legal religious cold final main
    green nice huge popular traditional cultural quiet warm bright heavy soft sharp slow quick deep wide
    say make go take come see know get give find think tell become show leave feel put bring begin keep
    hold write stand hear let mean set meet run pay sit speak lie lead read grow lose fall send build
    understand draw break spend cut rise drive buy wear choose seek throw catch deal win forget sell
    carry walk talk open close watch follow stop create speak learn change remember love consider appear
    wait serve die expect stay reach kill remain suggest raise pass report decide pull return explain
    hope develop offer receive join agree protect cover travel paint climb swim sing dance cook clean
    """.split()
    )
)


@dataclass(slots=True)
class Prompt:
    messages: list[dict[str, Any]]  # the user's part; a system prompt is added by the request builder
    output_len: int | None = None  # max_tokens for this one (None: --output-len, else the server's)
    input_len: int | None = None  # the length asked for (synthetic), for the record only


@dataclass
class Dataset:
    """An endless source of prompts and what to say about it in the report."""

    kind: str  # "synthetic", "jsonl", "sharegpt"
    prompts: Iterator[Prompt]
    size: int | None = None  # prompts in the file (None: synthetic, endless)
    path: str | None = None
    skipped: int = 0  # entries of the file that could not be used
    info: dict[str, Any] = field(default_factory=dict)
    _taken: int = 0

    def __iter__(self) -> Iterator[Prompt]:
        return self

    def __next__(self) -> Prompt:
        self._taken += 1
        return next(self.prompts)

    @property
    def wrapped(self) -> bool:
        """More prompts were taken than the file holds: some were sent twice."""
        return self.size is not None and self._taken > self.size

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, **self.info}
        if self.path is not None:
            out["path"] = self.path
            out["prompts"] = self.size
            out["skipped"] = self.skipped
            out["wrapped"] = self.wrapped
        return out


# -- synthetic -------------------------------------------------------------------------------------


def synthetic_text(n_tokens: int, rng: random.Random) -> str:
    """About `n_tokens` tokens of sentences made of common words: each word ~1 token, each full stop 1."""
    words: list[str] = []
    count = 0
    while count < n_tokens:
        length = min(rng.randint(6, 14), n_tokens - count)
        sentence = rng.choices(WORDS, k=max(1, length - 1))
        sentence[0] = sentence[0].capitalize()
        words.append(" ".join(sentence) + ".")
        count += len(sentence) + 1
    return " ".join(words)


def _around(length: int, ratio: float, rng: random.Random) -> int:
    """A length drawn uniformly from length·(1 − ratio) … length·(1 + ratio) (vLLM's --random-range-ratio)."""
    if ratio <= 0:
        return length
    low = max(1, int(length * (1 - ratio)))
    high = max(low, int(length * (1 + ratio)))
    return rng.randint(low, high)


def synthetic(
    input_len: int, output_len: int | None, range_ratio: float = 0.0, seed: int | None = None
) -> Dataset:
    if input_len < 1:
        raise UsageError("--input-len must be at least 1")
    if not 0 <= range_ratio < 1:
        raise UsageError("--range-ratio must be at least 0 and below 1")
    rng = random.Random(seed)
    info: dict[str, Any] = {"input_len": input_len, "output_len": output_len, "range_ratio": range_ratio}

    def prompts() -> Iterator[Prompt]:
        while True:
            n = _around(input_len, range_ratio, rng)
            out = _around(output_len, range_ratio, rng) if output_len else None
            # The server counts the chat template's tokens too: the words fill what is left of n.
            content = max(1.0, n - info.get("template_tokens", 0.0))
            units = max(1, round(content / info.get("tokens_per_word", 1.0)))
            yield Prompt([{"role": "user", "content": synthetic_text(units, rng)}], out, n)

    return Dataset("synthetic", prompts(), info=info)


CALIBRATION_WORDS = 200


def calibration_prompt(seed: int | None = None) -> str:
    """A synthetic text of CALIBRATION_WORDS word-units, to learn how the server's tokenizer counts them."""
    return synthetic_text(CALIBRATION_WORDS, random.Random(seed))


def calibrate(dataset: Dataset, base_tokens: int, text_tokens_: int) -> None:
    """The server counted `text_tokens_` prompt tokens for calibration_prompt() and `base_tokens` for a
    one-word prompt: scale synthetic prompts so that --input-len is the prompt's length in the server's
    own tokens, its chat template's tokens included (what its usage reports as prompt_tokens)."""
    if dataset.kind != "synthetic":
        return
    factor = (text_tokens_ - base_tokens) / (CALIBRATION_WORDS - 1)
    if 0.2 <= factor <= 10:  # anything else is not a tokenizer talking: leave the plain word count
        dataset.info["tokens_per_word"] = round(factor, 3)
        dataset.info["template_tokens"] = round(max(0.0, base_tokens - factor), 1)


# -- files -----------------------------------------------------------------------------------------


def load_file(path: str) -> Dataset:
    """A JSONL file (one `prompt` or `messages` object per line) or a ShareGPT JSON array."""
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"--dataset: cannot read {path}: {exc.strerror}", hint="check the path") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--dataset: {path} is not UTF-8 (byte offset {exc.start})") from None
    if text.lstrip().startswith("["):
        items, skipped, kind = _sharegpt(text, path)
    else:
        items, skipped, kind = _jsonl(text, path)
    if not items:
        raise UsageError(
            f"--dataset: {path} holds no usable prompt",
            hint="JSONL with a 'prompt' or 'messages' per line, or a ShareGPT JSON array",
        )
    return Dataset(kind, itertools.cycle(items), size=len(items), path=str(p), skipped=skipped)


def _jsonl(text: str, path: str) -> tuple[list[Prompt], int, str]:
    items: list[Prompt] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"--dataset: {path} line {n} is not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise UsageError(f"--dataset: {path} line {n} is not a JSON object")
        items.append(_jsonl_prompt(obj, f"{path} line {n}"))
    return items, 0, "jsonl"


def _jsonl_prompt(obj: dict[str, Any], where: str) -> Prompt:
    out = obj.get("output_len", obj.get("max_tokens"))
    if out is not None and (not isinstance(out, int) or isinstance(out, bool) or out < 1):
        raise UsageError(f"--dataset: {where}: output_len must be a whole number of at least 1")
    if isinstance(obj.get("prompt"), str) and obj["prompt"].strip():
        return Prompt([{"role": "user", "content": obj["prompt"]}], out)
    messages = obj.get("messages")
    if (
        isinstance(messages, list)
        and messages
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in messages)
    ):
        return Prompt([dict(m) for m in messages], out)
    raise UsageError(
        f"--dataset: {where} has no 'prompt' text and no 'messages' list",
        hint='each line like {"prompt": "..."} or {"messages": [{"role": "user", "content": "..."}]}',
    )


def _sharegpt(text: str, path: str) -> tuple[list[Prompt], int, str]:
    """ShareGPT: [{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]}].
    The first human turn is the prompt; the reply's length (≈4 characters a token) its output length."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--dataset: {path} is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise UsageError(f"--dataset: {path} is not a ShareGPT array of conversations")
    items: list[Prompt] = []
    skipped = 0
    for entry in data:
        turns = entry.get("conversations") if isinstance(entry, dict) else None
        prompt = reply = None
        if isinstance(turns, list):
            for i, turn in enumerate(turns):
                if isinstance(turn, dict) and turn.get("from") in ("human", "user"):
                    value = turn.get("value")
                    nxt = turns[i + 1] if i + 1 < len(turns) else None
                    if isinstance(value, str) and value.strip() and isinstance(nxt, dict):
                        prompt, reply = value, nxt.get("value")
                    break
        if prompt is None or not isinstance(reply, str) or not reply.strip():
            skipped += 1
            continue
        items.append(Prompt([{"role": "user", "content": prompt}], text_tokens(reply)))
    return items, skipped, "sharegpt"
