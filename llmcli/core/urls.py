"""Base URLs: what a valid one looks like, and the host a message may name (never its credentials)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..errors import UsageError


def host_of(url: str) -> str:
    """host[:port] only: never userinfo (credentials), path or query string."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or url


def check_base_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise UsageError(
            f"base URL must start with http:// or https:// and name a host: {url!r}",
            hint="for example http://127.0.0.1:8080/v1",
        )
    return url
