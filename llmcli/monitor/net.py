"""The server's own endpoints beside the API (/health, /metrics, /props, ...), and the connect probe.

These live at the root of the base URL (`http://h:8000/v1` → `http://h:8000`), which the transports
never call, so they are fetched here with httpx under the same settings: timeout, proxies from the
environment, the same trust store. The key goes only to the base URL's origin: a `--metrics-url`
elsewhere gets no Authorization header (and httpx drops it on a redirect to another origin).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..core.urls import host_of
from ..errors import LlmcliError, RequestRejected, TransportError
from ..transport.base import TransportConfig
from ..transport.status import error_for_status, network_error, server_message

DEFAULT_PORTS = {"http": 80, "https": 443}


def root_url(base_url: str) -> str:
    """The server's root: the base URL without a trailing `/v1` (and without a trailing slash)."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    return origin(a) == origin(b)


@dataclass(slots=True)
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class RootClient:
    """GETs (and one POST) next to the API, with the key only on the base URL's origin."""

    MAX_BODY = 4 * 1024 * 1024

    def __init__(self, config: TransportConfig, timeout: float):
        import httpx

        from ..transport.tls import ssl_context

        self.base_url = config.base_url
        self.root = root_url(config.base_url)
        self.timeout = timeout
        self.debug = config.debug
        self._key = config.api_key
        self.server_headers: list[str] = []  # every Server header seen, for the identity check
        # The transports' TLS and proxy settings (--ca-bundle, --insecure, --proxy), so a server that
        # `ask` reaches is reached here the same way.
        self._client = httpx.Client(
            headers={"User-Agent": f"llmcli/{__version__}"},
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            max_redirects=5,
            verify=ssl_context(config),
            proxy=config.proxy or None,
        )

    def url(self, path: str) -> str:
        return self.root + "/" + path.lstrip("/")

    def request(
        self, method: str, url: str, *, json: Any = None, with_key: bool = True, timeout: float | None = None
    ) -> Fetched:
        """One request, no retries; network failures raise llmcli's errors, any status comes back."""
        import httpx

        headers = {}
        if with_key and self._key and same_origin(url, self.base_url):
            headers["Authorization"] = f"Bearer {self._key}"
        host = host_of(url)
        wait = timeout if timeout is not None else self.timeout
        if self.debug:
            import sys

            print(f"llmcli: debug: {method} {url}", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            with self._client.stream(method, url, json=json, headers=headers, timeout=wait) as response:
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > self.MAX_BODY:
                        break
        except httpx.TimeoutException as exc:
            raise network_error(host, exc, timeout=wait) from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise network_error(host, exc) from None
        server = response.headers.get("server")
        if server:
            self.server_headers.append(server)
        return Fetched(response.status_code, dict(response.headers), bytes(body), time.perf_counter() - began)

    def get(self, path_or_url: str, **kw) -> Fetched:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        return self.request("GET", url, **kw)

    def close(self) -> None:
        self._client.close()


def status_error(fetched: Fetched, url: str) -> TransportError:
    return error_for_status(
        fetched.status, host_of(url), server_message(fetched.body, fetched.headers.get("content-type", ""))
    )


# --- metrics ---------------------------------------------------------------------------------


def metrics_url(base_url: str, given: str | None) -> str:
    return given.rstrip("/") if given else root_url(base_url) + "/metrics"


def fetch_metrics(client: RootClient, url: str) -> str:
    """The exposition text at `url`; a server that offers none is exit 4 with one line saying so."""
    fetched = client.get(url)
    host = host_of(url)
    said = server_message(fetched.body, fetched.headers.get("content-type", ""))
    if fetched.status in (404, 405, 501):
        why = f" ({said})" if said else ""
        hint = "llama.cpp: start llama-server with --metrics; vLLM, SGLang (--enable-metrics) and TGI serve /metrics at the root; or give --metrics-url"
        if fetched.status == 501:
            what = f"{host} does not offer metrics (HTTP 501){why}"
        else:
            what = f"{host} has no metrics at {urlsplit(url).path or '/'} (HTTP {fetched.status}){why}"
        raise RequestRejected(what, host=host, status=fetched.status, server_message=said, hint=hint)
    if fetched.status >= 400:
        raise status_error(fetched, url)
    ctype = fetched.headers.get("content-type", "")
    text = fetched.text
    if "html" in ctype or "json" in ctype or text.lstrip().startswith(("<", "{", "[")):
        raise RequestRejected(
            f"{host} answered {urlsplit(url).path or '/'} with {ctype or 'something'} that is not Prometheus metrics",
            host=host,
            hint="point --metrics-url at the server's Prometheus endpoint",
        )
    return text


# --- connect: DNS, TCP, TLS --------------------------------------------------------------------


@dataclass(slots=True)
class ConnectReport:
    host: str
    port: int
    steps: dict[str, float] = field(default_factory=dict)  # dns/tcp/tls → seconds
    address: str | None = None
    proxy: str | None = None
    tls: dict[str, Any] | None = None
    error: LlmcliError | None = None

    def detail(self) -> str:
        parts = []
        if self.proxy:
            parts.append(f"via proxy {self.proxy}")
        if self.address:
            parts.append(self.address)
        parts.extend(f"{k.upper()} {v * 1000:.0f} ms" for k, v in self.steps.items())
        if self.tls:
            t = self.tls
            parts.append(f"{t.get('version')}, certificate {t.get('subject')} expires {t.get('expires')}")
        return " · ".join(parts)


def _resolve(host: str, port: int, timeout: float) -> list[tuple]:
    """getaddrinfo has no timeout of its own: it runs aside and is given up on after `timeout`."""
    found: list[Any] = []

    def work() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    helper = threading.Thread(target=work, name="llmcli-dns", daemon=True)
    helper.start()
    helper.join(timeout)
    if not found:
        raise TimeoutError("DNS Timeout")
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]


def probe_connect(config: TransportConfig, timeout: float) -> ConnectReport:
    """DNS, TCP and TLS to the base URL's host (or to the proxy in the way), each timed."""
    url = config.base_url
    scheme, host, port = origin(url)
    report = ConnectReport(host, port or 0)
    hostname = host_of(url)
    if not host or port is None:
        report.error = RequestRejected(f"cannot tell the host and port of {url!r}", hint="check --base-url")
        return report
    in_use = config.proxy_in_use()
    proxy = in_use.url if in_use else None
    target_host, target_port = host, port
    if proxy:
        report.proxy = host_of(proxy)
        _, target_host, p = origin(proxy)
        target_port = p or 80
    try:
        began = time.perf_counter()
        infos = _resolve(target_host, target_port, timeout)
        report.steps["dns"] = time.perf_counter() - began
        began = time.perf_counter()
        sock = None
        last: OSError | None = None
        for family, kind, proto, _, address in infos:
            try:
                sock = socket.socket(family, kind, proto)
                sock.settimeout(timeout)
                sock.connect(address)
                report.address = (
                    f"{address[0]}:{address[1]}"
                    if family == socket.AF_INET
                    else f"[{address[0]}]:{address[1]}"
                )
                break
            except OSError as exc:
                last = exc
                sock.close()
                sock = None
        if sock is None:
            raise last or OSError("no address to connect to")
        report.steps["tcp"] = time.perf_counter() - began
        try:
            if scheme == "https" and not proxy:
                report.tls = _tls(sock, host, timeout, report, config)
        finally:
            sock.close()
    except ssl.SSLCertVerificationError as exc:
        report.error = _untrusted(exc, hostname, host, port, timeout)
    except ssl.SSLError as exc:
        report.error = network_error(hostname, OSError(f"TLS handshake failed: {exc.reason or exc}"))
    except TimeoutError as exc:
        step = "DNS" if "dns" not in report.steps else ("TCP" if "tcp" not in report.steps else "TLS")
        err = network_error(hostname, exc, timeout=timeout)
        err.message = f"{step}: {err.message}"
        report.error = err
    except OSError as exc:
        step = "DNS" if "dns" not in report.steps else ("TCP" if "tcp" not in report.steps else "TLS")
        what = exc.strerror or str(exc) or type(exc).__name__
        if step == "DNS":
            what = f"cannot resolve {target_host}: {what}"
        report.error = network_error(hostname, OSError(f"{step}: {what}"))
    return report


def _tls(
    sock: socket.socket, host: str, timeout: float, report: ConnectReport, config: TransportConfig
) -> dict[str, Any]:
    from ..transport.tls import ssl_context

    began = time.perf_counter()
    ctx = ssl_context(config)
    with ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False) as tls:
        tls.settimeout(timeout)
        tls.do_handshake()
        report.steps["tls"] = time.perf_counter() - began
        cert = tls.getpeercert() or {}
        version = tls.version()
    if config.insecure:  # nothing was checked, and Python gives no decoded certificate without a check
        return {
            "version": version,
            "subject": "not verified (insecure)",
            "issuer": "",
            "expires": None,
            "days_left": None,
        }
    subject = _name(cert.get("subject", ()))
    issuer = _name(cert.get("issuer", ()))
    expires = None
    days = None
    if cert.get("notAfter"):
        when = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
        expires = when.strftime("%Y-%m-%d")
        days = (when - datetime.now(UTC)).days
    return {"version": version, "subject": subject, "issuer": issuer, "expires": expires, "days_left": days}


def _name(rdns) -> str:
    parts = []
    for rdn in rdns:
        for key, value in rdn:
            short = {"commonName": "CN", "organizationName": "O", "countryName": "C"}.get(key)
            if short:
                parts.append(f"{short}={value}")
    return ", ".join(parts) or "(no subject)"


def _untrusted(exc: ssl.SSLCertVerificationError, hostname: str, host: str, port: int, timeout: float):
    why = exc.verify_message or exc.reason or str(exc)
    about = _describe_untrusted_cert(host, port, timeout)
    err = network_error(hostname, OSError(f"the certificate is not trusted: {why}{about}"))
    err.hint = (
        "if the server uses a private CA, trust it with --ca-bundle PATH (or SSL_CERT_FILE); "
        "check that the URL's host matches the certificate"
    )
    return err


def _describe_untrusted_cert(host: str, port: int, timeout: float) -> str:
    """Subject, issuer and expiry of a certificate that failed verification, read without trusting it
    (cryptography decodes it when installed; without it the reason alone is given)."""
    try:
        from cryptography import x509
    except ImportError:
        return ""
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
        cert = x509.load_der_x509_certificate(der)
        expires = cert.not_valid_after_utc.strftime("%Y-%m-%d")
        return f" (subject {cert.subject.rfc4514_string()}, issued by {cert.issuer.rfc4514_string()}, expires {expires})"
    except Exception:  # only a description: the reason above stands without it
        return ""
