"""What `ask` and `chat` open before the first request: history, the transport, the model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..core.settings import Settings
from ..core.types import Message
from ..transport.base import Transport
from . import history as h
from .common import api_key, make_transport, pick_model


@dataclass(slots=True)
class Context:
    recorder: Any  # store.recorder.Recorder, or None when nothing is saved or read
    earlier: list[Message] | None  # the continued conversation (system prompt first), or None
    client: Transport
    model: str


@contextmanager
def exchange_context(
    settings: Settings, *, no_save: bool, continue_: bool, conversation: str | None
) -> Iterator[Context]:
    """Open history (and the conversation to continue), the transport and the model; close them after."""
    key = api_key(settings)  # a key that cannot be sent is refused before anything is opened or recorded
    rec, earlier, conv_model = h.open_history(
        no_save=no_save, continue_=continue_, conversation=conversation, settings=settings
    )
    client = None
    try:
        client = make_transport(settings, key)
        # A continued conversation keeps its model unless one is configured or given.
        model = conv_model if conv_model and not settings.model else pick_model(settings, client)
        yield Context(rec, earlier, client, model)
    finally:
        if client is not None:
            client.close()
        if rec is not None:
            rec.close()
