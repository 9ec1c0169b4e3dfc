"""The network knobs both transports build their HTTP client with: which certificates to trust, whether
to check them at all, and the proxy (docs/network.md). One place, so `--transport http` and `sdk` agree.

Loading a certificate store costs ~80 ms, so it is loaded only when the base URL (or the proxy) is
https. An http:// base URL gets a context that checks certificates but trusts none: a redirect from
it to https fails closed instead of going unverified.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import UsageError
from .base import TransportConfig

C = TypeVar("C")


def _uses_tls(config: TransportConfig) -> bool:
    return config.base_url.lower().startswith("https:") or (config.proxy or "").lower().startswith("https:")


def ssl_context(config: TransportConfig, env: dict[str, str] | None = None) -> Any:
    """The ssl.SSLContext for the client: --insecure, the CA bundle, SSL_CERT_DIR, or certifi's store
    (the default of httpx, which llmcli keeps)."""
    import ssl

    env = os.environ if env is None else env  # type: ignore[assignment]
    if config.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if not _uses_tls(config):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, trusts nothing: never used for http
    bundle = config.ca_bundle
    if bundle:
        where = f" (from {config.ca_bundle_source})" if config.ca_bundle_source else ""
        if not os.path.exists(bundle):
            raise UsageError(
                f"the CA bundle {bundle} does not exist{where}",
                hint="give the path of a PEM file holding the CA certificates to trust (--ca-bundle PATH)",
            )
        try:
            if os.path.isdir(bundle):
                return ssl.create_default_context(capath=bundle)
            return ssl.create_default_context(cafile=bundle)
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise UsageError(
                f"cannot use the CA bundle {bundle}{where}: {reason}",
                hint="it must be PEM: certificates between -----BEGIN CERTIFICATE----- lines",
            ) from None
    if env.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=env["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def build_client(factory: Callable[..., C], config: TransportConfig, **kw: Any) -> C:
    """`factory(verify=..., proxy=..., **kw)`: an httpx (or httpx2) client with the network settings."""
    try:
        return factory(verify=ssl_context(config), proxy=config.proxy, trust_env=True, **kw)
    except ImportError as exc:  # a socks5:// proxy without the socksio package
        raise UsageError(
            f"cannot use the proxy: {exc}", hint="install socksio for a SOCKS proxy, or use an http:// proxy"
        ) from None
