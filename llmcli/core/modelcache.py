"""The servers' model lists, kept briefly for shell completion: written whenever llmcli fetches
`/models` anyway (`llmcli models`, a request that picks the server's only model, the REPL), read when
completing `-m`. Completion never makes a network call. Standard library only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .files import atomic_write
from .urls import strip_credentials

TTL_S = 24 * 3600  # a list older than a day is not offered
MAX_SERVERS = 32


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(path: Path, base_url: str, models: list[str], *, now: float | None = None) -> None:
    """Note the models a server offers. Best effort: a file that cannot be written is no error."""
    now = time.time() if now is None else now
    data = _load(path)
    data[strip_credentials(base_url).rstrip("/")] = {"at": now, "models": sorted(set(models))}
    if len(data) > MAX_SERVERS:  # keep the newest
        data = dict(sorted(data.items(), key=lambda kv: kv[1].get("at", 0), reverse=True)[:MAX_SERVERS])
    try:
        atomic_write(path, json.dumps(data, ensure_ascii=False, sort_keys=True))
    except OSError:
        pass


def recall(path: Path, base_url: str | None, *, now: float | None = None) -> list[str]:
    """The models of `base_url` seen within TTL_S; with no list for it, those of every server."""
    now = time.time() if now is None else now
    data = _load(path)
    fresh = {
        url: entry.get("models") or []
        for url, entry in data.items()
        if isinstance(entry, dict) and now - float(entry.get("at", 0)) <= TTL_S
    }
    if base_url is not None:
        mine = fresh.get(strip_credentials(base_url).rstrip("/"))
        if mine:
            return list(mine)
    return sorted({m for models in fresh.values() for m in models if isinstance(m, str)})
