"""`--show-request` (and the REPL's /show-request): the request exactly as the transport would send
it, printed instead of sent. URL, headers and body come from transport.base.wire_request — the same
function the http transport sends with — so what is shown cannot differ from what would be sent.
"""

from __future__ import annotations

import sys
from typing import Any

from .render.request import FORMS, render
from .transport.base import TransportConfig, wire_request

__all__ = ["FORMS", "key_env", "show_request"]


def key_env(config: TransportConfig) -> str | None:
    """The environment variable a snippet reads the key from (None: no key, no Authorization header)."""
    if not config.api_key:
        return None
    return "OPENAI_API_KEY" if config.key_source == "env OPENAI_API_KEY" else "LLMCLI_API_KEY"


def request_text(config: TransportConfig, request: Any, form: str, *, stream: bool) -> str:
    body = request.body(stream=stream)
    wire = wire_request(config, "POST", request.endpoint, body)
    return render(wire, form, key_env=key_env(config), endpoint=request.endpoint)


def show_request(
    config: TransportConfig, request: Any, form: str, *, stream: bool, note=None, out=None
) -> None:
    """Print the request (stdout) and say on stderr where the snippet expects the key."""
    from .render.sink import write_out

    text = request_text(config, request, form, stream=stream)
    name = key_env(config)
    say = note or (lambda line: print(f"llmcli: {line}", file=sys.stderr, flush=True))
    if name:
        where = (
            ""
            if config.key_source.startswith("env ")
            else f" (llmcli's key comes from {config.key_source}: export it first)"
        )
        say(f"the request reads the key from ${name}{where}; nothing was sent")
    else:
        say("no key is configured, so the request sends none; nothing was sent")
    write_out(out if out is not None else sys.stdout.buffer, text.encode("utf-8"))
