"""One exchange: the user's turn recorded, request → transport events → sink, the answer recorded as it
ended, and an Outcome that says how it ended.

`ask` runs one exchange, the REPL many, both through `run_exchange`. Every way an answer can end
(complete, cut at max_tokens, Ctrl-C, SIGTERM, a cut stream, an error mid-stream, a closed pipe) comes
back as an Outcome carrying the text received so far, so the caller can keep it (screen, history) and
choose the exit code; `stats_line` is how both report its timing and usage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import interrupts
from .core.settings import Settings
from .core.surrogates import TextMender
from .core.types import (
    ChatEvent,
    ChatRequest,
    ChatResult,
    CompletionRequest,
    Finished,
    Logprobs,
    ModelSeen,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from .errors import IncompleteAnswer, Interrupted, LlmcliError, OutputClosed, OutputError
from .render.sink import Sink
from .transport.base import Transport

# history statuses
COMPLETE, LENGTH, INTERRUPTED, ERROR, CUT, FILTERED = (
    "complete",
    "length",
    "interrupted",
    "error",
    "cut",
    "filtered",
)

# How a provider may say why an answer ended. OpenAI's names first; the others are what other servers
# send for the same thing (TGI's eos_token/stop_sequence, Anthropic-style end_turn/max_tokens/tool_use).
ENDED = frozenset({"stop", "eos", "eos_token", "stop_sequence", "end_turn", "end"})
CUT_AT_LIMIT = frozenset({"length", "max_tokens", "model_length"})
TOOL_CALL = frozenset({"tool_calls", "function_call", "tool_use"})


@dataclass(slots=True)
class Timing:
    ttft_s: float | None = None
    total_s: float | None = None
    tokens_per_s: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"ttft_s": r(self.ttft_s), "total_s": r(self.total_s), "tokens_per_s": r(self.tokens_per_s)}


@dataclass(slots=True)
class Outcome:
    content: str = ""
    reasoning: str = ""
    model: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    usage_estimated: bool = False
    timing: Timing = field(default_factory=Timing)
    status: str = COMPLETE
    error: LlmcliError | None = None
    logprobs: list[Any] = field(default_factory=list)  # as the server sent them, piece by piece
    cached: bool = False  # replayed from the response cache (docs/cache.md), not asked of the server
    note: str | None = None  # for stderr: something about a good answer the user should know

    @property
    def ok(self) -> bool:
        return self.error is None


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters a token) for servers that report no usage."""
    return max(1, round(len(text) / 4)) if text else 0


def run_exchange(
    transport: Transport,
    request: ChatRequest | CompletionRequest,
    sink: Sink,
    *,
    prompt: str,
    system: str | None,
    settings: Settings,
    recorder: Any = None,
    stream: bool = True,
    cache: Any = None,
) -> Outcome:
    """The user's turn is kept before the request is sent, and the answer as it ended right after the
    turn, before anything else can interrupt. `recorder` is a store.recorder.Recorder, or None when
    nothing is saved; a history problem is a warning there, never a failed answer. `cache` is a
    store.cache.ResponseCache (or None): a hit is replayed through the same sink instead of sending
    the request, and only a complete answer is stored."""
    messages = getattr(request, "messages", None)  # a CompletionRequest has a prompt, no messages
    sent = messages[-1].attachments if messages else ()
    if recorder is not None:
        recorder.start(
            prompt,
            system=system,
            profile=settings.profile,
            base_url=settings.base_url,
            model=request.model,
            params={**request.params, **request.extra},
            kind="completion" if isinstance(request, CompletionRequest) else "chat",
            attachments=[a.to_record() for a in sent] or None,
        )
    key = cache.key_for(request) if cache is not None else None
    hit = cache.get(key) if key is not None else None
    if hit is not None:
        outcome = run_turn(Replay(hit, transport_host(transport)), request, sink, stream=stream)
        outcome.cached = True
    else:
        outcome = run_turn(transport, request, sink, stream=stream)
        if key is not None and cacheable(outcome):
            cache.put(key, cache_value(outcome))
    if outcome.error is not None and messages:
        from .core.attachments import explain_refusal

        explain_refusal(outcome.error, messages)
    if recorder is not None:
        recorder.finish(outcome)
    return outcome


def cache_value(outcome: Outcome) -> dict[str, Any]:
    """What the response cache keeps of an answer (Replay gives it back)."""
    from .transport.wire import merge_logprobs

    usage = outcome.usage.to_dict() if outcome.usage is not None and not outcome.usage_estimated else None
    return {
        "content": outcome.content,
        "reasoning": outcome.reasoning,
        "finish_reason": outcome.finish_reason,
        "model": outcome.model,
        "usage": usage,
        "logprobs": merge_logprobs(outcome.logprobs),
    }


class Replay:
    """A cached answer in the shape of a transport, so that it goes through the same turn and sink."""

    def __init__(self, value: dict[str, Any], host: str):
        usage = value.get("usage")
        self.host = host
        self._result = ChatResult(
            content=value.get("content") or "",
            reasoning=value.get("reasoning") or "",
            finish_reason=value.get("finish_reason"),
            usage=Usage(**usage) if isinstance(usage, dict) else None,
            model=value.get("model"),
            logprobs=value.get("logprobs"),
        )

    def _events(self, request: Any) -> Iterator[ChatEvent]:
        from .transport.wire import result_events

        return result_events(self._result)

    stream_chat = stream_text = _events

    def complete(self, request: Any) -> ChatResult:
        return self._result

    complete_text = complete

    def close(self) -> None:
        pass


def cacheable(outcome: Outcome) -> bool:
    """Only a whole, proper answer is kept: never a partial, interrupted, cut, filtered or `length` one."""
    return (
        outcome.ok
        and outcome.status == COMPLETE
        and bool(outcome.content)
        and outcome.finish_reason in (None, "stop", "eos", "end_turn")
    )


def stats_line(outcome: Outcome) -> str:
    """`--stats` and the REPL's /stats: time to first token, total time, tokens/s and token counts."""
    t = outcome.timing
    parts = []
    parts.append(f"ttft {t.ttft_s:.2f} s" if t.ttft_s is not None else "ttft -")
    parts.append(f"total {t.total_s:.2f} s" if t.total_s is not None else "total -")
    parts.append(f"{t.tokens_per_s:.1f} tokens/s" if t.tokens_per_s else "- tokens/s")
    u = outcome.usage
    if u is not None and not outcome.usage_estimated:
        prompt = u.prompt_tokens if u.prompt_tokens is not None else "?"
        parts.append(f"{prompt} prompt + {u.completion_tokens} completion tokens")
    else:
        guess = estimate_tokens(outcome.content + outcome.reasoning)
        parts.append(f"~{guess} completion tokens (estimated: the server sent no usage)")
    if outcome.cached:
        parts.append("cached (no request sent)")
    return "stats: " + " · ".join(parts)


def run_turn(
    transport: Transport,
    request: ChatRequest | CompletionRequest,
    sink: Sink,
    *,
    stream: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> Outcome:
    """One exchange. Ctrl-C / SIGTERM never escape: they come back as status "interrupted".

    The turn runs shielded (see interrupts.py): a signal stops it where it waits for the network, never
    in the middle of a sink writing to the terminal, and the sink still settles the screen.
    """
    interrupts.reset()
    with interrupts.shielded(), interrupts.keyboard_quiet():
        out = _exchange(transport, request, sink, stream=stream, clock=clock)
        signum = interrupts.received()
        if signum is not None and not isinstance(out.error, Interrupted):
            # The signal came while the sink was busy and the answer ended before it could be raised.
            out.status, out.error = INTERRUPTED, Interrupted(signum)
    return out


def _exchange(
    transport: Transport,
    request: ChatRequest | CompletionRequest,
    sink: Sink,
    *,
    stream: bool,
    clock: Callable[[], float],
) -> Outcome:
    out = Outcome(model=request.model)
    text_parts: list[str] = []
    text_blocks: list[str] = []
    reasoning_parts: list[str] = []
    started = clock()
    first: float | None = None
    done = False
    # Lone or split UTF-16 surrogates from the JSON are mended before anything shows or is stored.
    text_mender, reasoning_mender = TextMender(), TextMender()
    try:
        sink.start()
        events: Iterator[ChatEvent]
        text = isinstance(request, CompletionRequest)  # legacy /completions: the same events
        if stream:
            with interrupts.interruptible():
                events = transport.stream_text(request) if text else transport.stream_chat(request)
        else:
            from .transport.wire import result_events

            with interrupts.interruptible():
                whole = transport.complete_text(request) if text else transport.complete(request)
                events = result_events(whole)
        try:
            # Connecting, retry waits and waiting for the next piece are interruptible; the sink is not.
            for event in interrupts.interruptible_iter(events):
                if type(event) is TextDelta:
                    if first is None:
                        first = clock()
                    text = event.text
                    if text_mender.held or not text.isascii():
                        text = text_mender.feed(text)
                        if not text:
                            continue
                    text_parts.append(text)
                    if len(text_parts) >= 512:  # keep memory flat on long answers: few large strings
                        text_blocks.append("".join(text_parts))
                        text_parts.clear()
                    sink.text(text)
                elif isinstance(event, ReasoningDelta):
                    if first is None:
                        first = clock()
                    text = reasoning_mender.feed(event.text)
                    if text:
                        reasoning_parts.append(text)
                        sink.reasoning(text)
                elif isinstance(event, Usage):
                    out.usage = event
                elif isinstance(event, Finished):
                    out.finish_reason = event.reason
                    if event.model:
                        out.model = event.model
                elif isinstance(event, ModelSeen):
                    out.model = event.model
                elif isinstance(event, Logprobs):
                    out.logprobs.append(event.data)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # release the connection now, also on Ctrl-C or a closed pipe
        tail = text_mender.flush()  # half a surrogate pair that never got its other half
        if tail:
            text_parts.append(tail)
            sink.text(tail)
        reasoning_parts.append(reasoning_mender.flush())
        done = True
    except IncompleteAnswer as exc:
        out.status, out.error = exc.reason, exc
    except KeyboardInterrupt:
        out.status, out.error = INTERRUPTED, Interrupted(interrupts.received() or 2)
    except Interrupted as exc:
        out.status, out.error = INTERRUPTED, exc
    except OutputClosed as exc:
        out.status, out.error = INTERRUPTED, exc
    except OutputError as exc:
        out.status, out.error = ERROR, exc
    except LlmcliError as exc:  # failed before any answer (auth, rejected, network, ...)
        out.status, out.error = ERROR, exc
    finally:
        ended = clock()
        out.content = "".join(text_blocks) + "".join(text_parts)
        out.reasoning = "".join(reasoning_parts)
        if not isinstance(out.error, OutputClosed | OutputError):
            try:
                sink.end()
            except (OutputClosed, OutputError) as exc:
                if out.error is None:
                    out.status, out.error = INTERRUPTED if isinstance(exc, OutputClosed) else ERROR, exc
    if done:
        _how_it_ended(out, transport_host(transport))
    _timing(out, started, first, ended)
    return out


def _how_it_ended(out: Outcome, host: str) -> None:
    """A stream that ended properly: say how, by its finish reason (None: `[DONE]` without one)."""
    reason = out.finish_reason
    said = f"finish_reason: {reason}"
    if reason is None and not out.content:
        # `[DONE]` alone: nothing says the answer ended as it should (CONTRACT.md: a proper end is a
        # finish reason, then `[DONE]`), and nothing came.
        out.status = CUT
        out.error = IncompleteAnswer(
            f"{host} sent an empty answer and no finish reason",
            reason=CUT,
            host=host,
            hint="try again; if it persists, check the model and the server's log",
        )
    elif reason is None or reason in ENDED:
        if not out.content:  # e.g. llama.cpp when the end-of-sequence token comes first
            out.note = f"{host} ended the answer without any text ({said})"
    elif reason in CUT_AT_LIMIT:
        out.status = LENGTH
    elif reason in TOOL_CALL:
        # The model asks for a tool to be run and waits for its result: whatever text came is all
        # there is, but it is no complete answer either.
        out.status = FILTERED
        how = "ended its answer asking" if out.content else "sent no text, only a request"
        out.note = f"the model {how} to call a tool ({said}); llmcli does not run tools"
    else:
        # The provider stopped the answer: a content filter, or a reason llmcli does not know.
        filtered = "filter" in reason
        who = f"{host}'s content filter" if filtered else host
        rest = "the text above is partial" if out.content else "no text came before it"
        out.status = FILTERED
        out.error = IncompleteAnswer(
            f"{who} stopped the answer ({said}); {rest}",
            reason=FILTERED,
            host=host,
            hint="what arrived is kept; rephrasing the prompt may get past the filter"
            if filtered
            else "what arrived is kept; try again",
        )


def transport_host(transport: Transport) -> str:
    return getattr(transport, "host", "the server")


def _timing(out: Outcome, started: float, first: float | None, ended: float) -> None:
    total = ended - started
    ttft = (first - started) if first is not None else None
    completion = out.usage.completion_tokens if out.usage else None
    if completion is None:
        completion = estimate_tokens(out.content + out.reasoning)
        out.usage_estimated = True
    gen = total - ttft if ttft is not None else None
    tps = None
    if completion and gen and gen > 0.001:
        tps = completion / gen
    elif completion and total > 0:
        tps = completion / total
    out.timing = Timing(ttft, total, tps)
