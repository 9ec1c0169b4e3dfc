"""Blame the right hop, and bound the wait before the answer (issue 9, items 6 and 7).

Proxies that are down or answer 407, redirects that would turn the POST into a GET, redirect loops,
an HTML page with status 200, a JSON body cut short of its Content-Length, headers trickled a byte at a
time: each from a small raw-socket server (tests/rawserver.py), through the real CLI, on both transports.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import assert_no_traceback
from rawserver import RawRequest, RawServer, closed_port

TRANSPORTS = ["http", "sdk"]
OFF_SITE = "api.example.invalid"  # never resolved: only the proxy is ever reached
NO_PROXY_ENV = {"NO_PROXY": "", "no_proxy": "", "HTTP_PROXY": "", "HTTPS_PROXY": "", "ALL_PROXY": ""}


def one_line(stderr: str) -> None:
    assert stderr.count("\n") == 1, stderr
    assert_no_traceback(stderr)


def proxy_env(**proxies: str) -> dict[str, str]:
    return {**NO_PROXY_ENV, **proxies}


# --- proxies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_proxy_that_is_down_is_named_as_the_proxy(offline_cli, transport):
    port = closed_port()
    env = proxy_env(HTTPS_PROXY=f"http://alice:s3cretpw@127.0.0.1:{port}")
    r = offline_cli(
        "ask", "--transport", transport, "--base-url", f"https://{OFF_SITE}/v1", "-m", "m",
        "--max-retries", "0", "hi", env=env,
    )  # fmt: skip
    assert r.returncode == 6, r
    assert (
        f"could not connect to the proxy 127.0.0.1:{port} (from HTTPS_PROXY) on the way to {OFF_SITE}"
        in r.stderr
    )
    assert "is the server running" not in r.stderr and "s3cretpw" not in r.stderr
    one_line(r.stderr)


@pytest.fixture
def auth_proxy():
    """A proxy that wants credentials: 407 to every request, forwarded or CONNECT."""

    def handler(req: RawRequest) -> None:
        page = b"<html><head><title>Proxy login</title></head><body>ask IT</body></html>"
        req.reply(
            407, page, headers={"Proxy-Authenticate": 'Basic realm="corp"', "Content-Type": "text/html"}
        )

    with RawServer(handler) as srv:
        yield srv


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("scheme", ["http", "https"])  # forwarded request / CONNECT tunnel
@pytest.mark.parametrize("command", ["ask", "models"])
def test_a_proxy_asking_for_credentials_is_named_with_its_own_hint(
    offline_cli, auth_proxy, transport, scheme, command
):
    env = proxy_env(**{f"{scheme.upper()}_PROXY": auth_proxy.url})
    args = ["-m", "m", "hi"] if command == "ask" else []
    r = offline_cli(
        command, "--transport", transport, "--base-url", f"{scheme}://{OFF_SITE}/v1", "--max-retries", "0",
        *args, env=env,
    )  # fmt: skip
    assert r.returncode == 6, r
    assert (
        f"the proxy 127.0.0.1:{auth_proxy.port} (from {scheme.upper()}_PROXY) requires authentication (HTTP 407)"
        in r.stderr
    )
    assert f"{scheme.upper()}_PROXY (http://USER:PASSWORD@proxy:port)" in r.stderr  # the hint
    assert "max-tokens" not in r.stderr and "rejected" not in r.stderr
    one_line(r.stderr)
    assert auth_proxy.requests  # the proxy really was asked
    first = auth_proxy.requests[0]
    assert (first.method == "CONNECT") == (scheme == "https")


# --- redirects -------------------------------------------------------------------------------------


@pytest.fixture
def moved():
    """POST /v1/... is answered with a redirect to /v2/...; a GET anywhere with 405."""
    status = {"code": 301}

    def handler(req: RawRequest) -> None:
        if req.method == "POST":
            req.reply(status["code"], b"", headers={"Location": "/v2/chat/completions"})
        else:
            body = json.dumps({"error": {"message": "Method Not Allowed"}}).encode()
            req.reply(405, body, headers={"Content-Type": "application/json"})

    with RawServer(handler) as srv:
        srv.status = status
        yield srv


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("code", [301, 302, 303])
def test_a_redirect_that_would_turn_the_post_into_a_get_says_where_to(cli, moved, transport, code):
    moved.status["code"] = code
    r = cli("ask", "--transport", transport, "--base-url", f"{moved.url}/v1", "-m", "m", "hi")
    assert r.returncode == 4, r
    where = f"{moved.url}/v2/chat/completions"
    assert f"redirected the request (HTTP {code}) to {where}" in r.stderr
    assert f"--base-url {moved.url}/v2" in r.stderr  # the next step
    assert "405" not in r.stderr
    one_line(r.stderr)


@pytest.fixture
def loop():
    def handler(req: RawRequest) -> None:
        req.reply(307, b"", headers={"Location": req.target})  # back to itself, for ever

    with RawServer(handler) as srv:
        yield srv


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("command", ["ask", "models"])
def test_a_redirect_loop_is_a_network_failure_in_one_line(offline_cli, loop, transport, command):
    args = ["-m", "m", "hi"] if command == "ask" else []
    r = offline_cli(command, "--transport", transport, "--base-url", f"{loop.url}/v1", *args)
    assert r.returncode == 6, r
    assert f"127.0.0.1:{loop.port} redirected the request too many times" in r.stderr
    one_line(r.stderr)
    assert 3 <= len(loop.requests) <= 25  # followed a while, then given up (never retried as a whole)


# --- bodies that are not what they claim -----------------------------------------------------------


@pytest.fixture
def portal():
    """A captive portal: every request gets its sign-in page, with status 200."""

    def handler(req: RawRequest) -> None:
        page = b"<!DOCTYPE html><html><head><title>Sign in to CoffeeShop WiFi</title></head><body>...</body></html>"
        req.reply(200, page, headers={"Content-Type": "text/html; charset=utf-8"})

    with RawServer(handler) as srv:
        yield srv


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "args", [["ask", "-m", "m", "hi"], ["ask", "--no-stream", "-m", "m", "hi"], ["models"]]
)
def test_an_html_page_with_status_200_is_named_as_html(offline_cli, portal, transport, args):
    r = offline_cli(args[0], "--transport", transport, "--base-url", f"{portal.url}/v1", *args[1:])
    assert r.returncode == 4, r
    assert "answered with an HTML page (Sign in to CoffeeShop WiFi)" in r.stderr
    assert "captive portal" in r.stderr
    assert "not a JSON chunk" not in r.stderr and "not JSON" not in r.stderr
    assert r.stdout == ""
    one_line(r.stderr)


@pytest.fixture
def short_body():
    """A JSON completion whose body ends 400 bytes short of its Content-Length."""
    whole = {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "the whole answer"}}],
    }
    data = json.dumps(whole).encode()

    def handler(req: RawRequest) -> None:
        part = data[: len(data) // 2]
        req.reply(200, part, headers={"Content-Type": "application/json"}, length=len(data) + 400)

    with RawServer(handler) as srv:
        yield srv


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [True, False])
def test_a_json_body_cut_short_of_its_content_length_is_an_incomplete_answer(
    cli, short_body, home, transport, stream
):
    args = [] if stream else ["--no-stream"]
    r = cli("ask", "--transport", transport, "--base-url", f"{short_body.url}/v1", *args, "-m", "m", "hi")
    assert r.returncode == 7, r
    assert "closed the connection before the answer was complete" in r.stderr
    assert '{"' not in r.stderr and "choices" not in r.stderr  # no raw JSON in the message
    one_line(r.stderr)


# --- --timeout bounds the wait for the headers as a whole (item 7) --------------------------------


@pytest.fixture
def trickler():
    """Sends its status line and headers one byte every 0.25 s (over a minute in all): every read
    brings a byte, so no per-read timeout ever fires."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Padding: " + b"a" * 300 + b"\r\n\r\n"
    arrived: list[float] = []

    def handler(req: RawRequest) -> None:
        arrived.append(time.monotonic())
        req.trickle(head, 0.25)

    with RawServer(handler) as srv:
        srv.arrived = arrived
        yield srv


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "args", [["ask", "-m", "m", "hi"], ["ask", "--no-stream", "-m", "m", "hi"], ["models"]]
)
def test_headers_trickled_a_byte_at_a_time_do_not_outlast_the_timeout(offline_cli, trickler, transport, args):
    r = offline_cli(
        args[0], "--transport", transport, "--base-url", f"{trickler.url}/v1", "--timeout", "1.5",
        "--max-retries", "0", *args[1:],
    )  # fmt: skip
    ended = time.monotonic()
    assert r.returncode == 6, r
    assert "timed out waiting for" in r.stderr and "(1.5 s)" in r.stderr
    one_line(r.stderr)
    assert len(trickler.arrived) == 1
    waited = ended - trickler.arrived[0]
    # The timeout, and the process ending (tearing down the openai SDK's modules alone takes ~1 s on a
    # busy machine); not the 80 s the trickle would last.
    assert waited < 1.5 + 3, waited
