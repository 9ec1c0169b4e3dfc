"""Base URLs: what a valid one looks like, the host a message may name, and how a URL is shown (never
with the password it may carry: `http://user:***@host/v1`)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import UsageError


def host_of(url: str) -> str:
    """host[:port] only: never userinfo (credentials), path or query string."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or url


def display_url(url: str) -> str:
    """The URL as llmcli shows it: a password becomes `***`, and so does a user name that stands alone
    (`https://TOKEN@host` carries a token there). Anything else is shown as given."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    shown = f"{user}:***" if colon and user else "***"
    return urlunsplit(parts._replace(netloc=f"{shown}@{hostport}"))


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries, as written and percent-decoded (to scrub them from any text)."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return []
    if "@" not in netloc:
        return []
    userinfo = netloc.rpartition("@")[0]
    user, colon, password = userinfo.partition(":")
    found = [password] if colon else [user]
    return [s for secret in found if secret for s in {secret, unquote(secret)}]


def check_base_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise UsageError(
            f"base URL must start with http:// or https:// and name a host: {display_url(url)!r}",
            hint="for example http://127.0.0.1:8080/v1",
        )
    return url


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def check_proxy_url(url: str) -> str:
    if not re.match(r"^(https?|socks5h?)://[^/\s]+", url):
        raise UsageError(
            f"proxy URL must start with http://, https://, socks5:// or socks5h:// and name a host: {redact_url(url)!r}",
            hint="for example --proxy http://proxy.example:3128",
        )
    return url


def redact_url(url: str) -> str:
    """The URL with any password in it replaced by ***, for messages (a proxy URL may carry one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{netloc[1]}").geturl()


def strip_credentials(url: str) -> str:
    """The URL without user:password@ (the cache key and --show-request never carry them)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
