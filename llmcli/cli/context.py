"""What `ask` and `chat` open before the first request: history, the transport, the model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..core.settings import Settings
from ..core.types import Message
from ..transport.base import Transport, TransportConfig
from . import history as h
from .common import api_key, make_transport, offline_model, pick_model, transport_config, warn


@dataclass(slots=True)
class Context:
    recorder: Any  # store.recorder.Recorder, or None when nothing is saved or read
    earlier: list[Message] | None  # the continued conversation (system prompt first), or None
    client: Transport  # None when `showing` (nothing is sent)
    model: str
    config: TransportConfig  # what the transport is built from (--show-request renders with it)
    cache: Any = None  # store.cache.ResponseCache with --cache, else None


@contextmanager
def exchange_context(
    settings: Settings,
    *,
    no_save: bool,
    continue_: bool,
    conversation: str | None,
    showing: bool = False,
    cache_any: bool = False,
) -> Iterator[Context]:
    """Open history (and the conversation to continue), the transport, the cache and the model; close
    them after. `showing` (--show-request): nothing is saved, sent or cached, and the model must be
    known without asking the server."""
    key = api_key(settings)  # a key that cannot be sent is refused before anything is opened or recorded
    rec, earlier, conv_model = h.open_history(
        no_save=no_save or showing, continue_=continue_, conversation=conversation, settings=settings
    )
    if earlier:  # images of earlier turns are read again from their paths (stderr says when one is gone)
        from ..core.attachments import restore_messages

        earlier = restore_messages(earlier, warn)
    client = None
    cache = None
    try:
        config = transport_config(settings, key)
        if showing:
            model = conv_model if conv_model and not settings.model else offline_model(settings)
        else:
            client = make_transport(settings, key)
            # A continued conversation keeps its model unless one is configured or given.
            model = conv_model if conv_model and not settings.model else pick_model(settings, client)
            cache = open_cache(settings, cache_any)
        yield Context(rec, earlier, client, model, config, cache)
    finally:
        if client is not None:
            client.close()
        if cache is not None:
            cache.close()
        if rec is not None:
            rec.close()


def open_cache(settings: Settings, cache_any: bool = False) -> Any:
    """The response cache when --cache (or `cache = true` in the profile) is in force, else None."""
    if not settings.cache and not cache_any:
        return None
    from ..core.settings import paths
    from ..store.cache import DEFAULT_MAX_MB, ResponseCache
    from .common import warn

    mb = settings.config.data.get("cache_max_mb", DEFAULT_MAX_MB) if settings.config else DEFAULT_MAX_MB
    return ResponseCache(
        paths().cache_db,
        base_url=settings.base_url,
        max_bytes=int(float(mb) * 1024 * 1024),
        warn=warn,
        any_request=cache_any,
    )
