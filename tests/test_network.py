"""The network knobs against a local TLS server whose CA is made here, and through a local proxy, on
both transports: untrusted → a clear error (exit 6), trusted through --ca-bundle, a profile's
ca_bundle or SSL_CERT_FILE → works, --insecure → works with a warning on every run, --proxy → the
request goes through the proxy. Every command that talks to a server takes them after its name."""

from __future__ import annotations

import socket
import threading

import pytest
from conftest import assert_no_traceback
from refserver import Scenario

TRANSPORTS = ["http", "sdk"]


@pytest.fixture
def tls_server(tls):
    srv, ca_pem = tls
    srv.reset()
    return srv, ca_pem


def ask(cli, url, *args, **kw):
    return cli("ask", "--base-url", url, "-m", "m", "--max-retries", "0", *args, **kw)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_untrusted_certificate_is_a_clear_error(cli, tls_server, transport):
    srv, _ = tls_server
    r = ask(cli, srv.base_url, "--transport", transport, "hi")
    assert r.returncode == 6, r
    assert "TLS" in r.stderr and "127.0.0.1" in r.stderr and "CERTIFICATE_VERIFY_FAILED" in r.stderr.upper()
    assert_no_traceback(r.stderr)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_trusted_through_ca_bundle_profile_and_ssl_cert_file(cli, tls_server, transport):
    srv, ca_pem = tls_server
    srv.push(Scenario(text="over TLS"))
    r = ask(cli, srv.base_url, "--transport", transport, "--ca-bundle", str(ca_pem), "hi")
    assert r.returncode == 0 and r.stdout == "over TLS", r
    assert "warning" not in r.stderr
    r = ask(cli, srv.base_url, "--transport", transport, "hi", env={"SSL_CERT_FILE": str(ca_pem)})
    assert r.returncode == 0, r
    r = ask(cli, srv.base_url, "--transport", transport, "hi", env={"LLMCLI_CA_BUNDLE": str(ca_pem)})
    assert r.returncode == 0, r
    assert cli("profile", "add", "lab", "--base-url", srv.base_url).returncode == 0
    assert cli("profile", "set", "lab", "ca_bundle", str(ca_pem)).returncode == 0
    r = cli("ask", "-P", "lab", "-m", "m", "--transport", transport, "hi")
    assert r.returncode == 0, r
    r = cli("models", "-P", "lab", "--transport", transport)
    assert r.returncode == 0 and "ref-model" in r.stdout.split(), r


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_insecure_works_and_warns_on_every_run(cli, tls_server, transport):
    srv, _ = tls_server
    for _ in range(2):
        r = ask(cli, srv.base_url, "--transport", transport, "--insecure", "hi")
        assert r.returncode == 0 and r.stdout == "Hello from the reference server.", r
        assert "warning: TLS certificates are not verified for 127.0.0.1" in r.stderr
    assert cli("profile", "add", "lax", "--base-url", srv.base_url).returncode == 0
    assert cli("profile", "set", "lax", "insecure", "true").returncode == 0
    r = cli("ask", "-P", "lax", "-m", "m", "--transport", transport, "hi")
    assert r.returncode == 0 and "not verified" in r.stderr and "profile 'lax'" in r.stderr, r


def test_bad_ca_bundle_is_a_usage_error_only_when_tls_is_used(cli, server, tls_server, tmp_path):
    srv, _ = tls_server
    missing = tmp_path / "nope.pem"
    r = ask(cli, srv.base_url, "--ca-bundle", str(missing), "hi")
    assert r.returncode == 2 and "does not exist" in r.stderr and "--ca-bundle" in r.stderr, r
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    r = ask(cli, srv.base_url, "hi", env={"SSL_CERT_FILE": str(junk)})
    assert r.returncode == 2 and "SSL_CERT_FILE" in r.stderr and "PEM" in r.stderr, r
    # A stale SSL_CERT_FILE does not break a plain-http server.
    r = ask(cli, server.base_url, "hi", env={"SSL_CERT_FILE": str(missing)})
    assert r.returncode == 0, r


# --- a small forwarding proxy ----------------------------------------------------------------------


class Proxy:
    """An HTTP proxy on 127.0.0.1: absolute-form requests are forwarded (one per connection), CONNECT is
    tunnelled. `seen` records each request line, `auth` each Proxy-Authorization header."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen: list[str] = []
        self.auth: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        self.seen.append(f"{method} {target}")
        self.auth += [
            h.split(":", 1)[1].strip() for h in lines[1:] if h.lower().startswith("proxy-authorization:")
        ]
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            from urllib.parse import urlsplit

            url = urlsplit(target)
            upstream = socket.create_connection((url.hostname, url.port))
            headers = [h for h in lines[1:] if not h.lower().startswith(("proxy-", "connection:"))]
            path = url.path + (f"?{url.query}" if url.query else "")
            upstream.sendall(
                "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""]).encode(
                    "latin-1"
                )
                + rest
            )
        t = threading.Thread(target=self._pipe, args=(upstream, conn), daemon=True)
        t.start()
        self._pipe(conn, upstream)
        t.join(5)
        conn.close()
        upstream.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy():
    p = Proxy()
    yield p
    p.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_proxy_flag_and_profile_carry_the_request(cli, server, tls_server, proxy, transport):
    server.push(Scenario(text="through the proxy"))
    r = ask(cli, server.base_url, "--transport", transport, "--proxy", proxy.url, "hi")
    assert r.returncode == 0 and r.stdout == "through the proxy", r
    assert proxy.seen == [f"POST {server.base_url}/chat/completions"]
    srv, ca_pem = tls_server
    assert cli("profile", "add", "via", "--base-url", srv.base_url).returncode == 0
    assert cli("profile", "set", "via", "proxy", proxy.url).returncode == 0
    r = cli("ask", "-P", "via", "-m", "m", "--transport", transport, "--ca-bundle", str(ca_pem), "hi")
    assert r.returncode == 0, r
    assert proxy.seen[-1] == f"CONNECT 127.0.0.1:{srv.port}"  # https through the proxy: a tunnel


def test_bad_proxy_url_is_a_usage_error(cli, server):
    r = ask(cli, server.base_url, "--proxy", "ftp://user:secret@proxy:21", "hi")
    assert r.returncode == 2 and "proxy URL" in r.stderr and "secret" not in r.stderr, r
    assert not server.requests


# --- every command that talks to a server takes them after its name (docs/network.md) --------------

NETWORK_OPTIONS = {"--ca-bundle", "--insecure", "--proxy"}
# Commands that send nothing to a server have no use for them.
OFFLINE = {
    ("completion",),
    ("schema",),
    ("cache",),
    ("profile",),
    ("config", "path"),
    ("history",),
    ("template",),
    ("finetune", "validate"),
}


def leaf_commands(command, path=()):
    if not hasattr(command, "commands"):
        yield path, command
        return
    for name, sub in command.commands.items():
        yield from leaf_commands(sub, (*path, name))


def test_every_command_that_talks_to_a_server_takes_the_network_options():
    """bench, files, batch and finetune honoured them only before the command name until they declared
    them: `llmcli bench --insecure` was `No such option`."""
    from docs_examples import root_command

    from llmcli.cli.options import is_connection_option

    for path, command in leaf_commands(root_command()):
        if any(path[: len(p)] == p for p in OFFLINE):
            continue
        declared = {p.opts[0] for p in command.params if is_connection_option(p)}
        assert declared >= NETWORK_OPTIONS, (
            f"llmcli {' '.join(path)} lacks {sorted(NETWORK_OPTIONS - declared)}"
        )


def test_job_commands_take_them_after_their_name(cli, server, tls_server, proxy):
    srv, ca_pem = tls_server
    r = cli("files", "list", "--base-url", srv.base_url, "--ca-bundle", str(ca_pem))
    assert r.returncode == 0, r
    r = cli("batch", "list", "--base-url", srv.base_url, "--insecure")
    assert r.returncode == 0 and "not verified" in r.stderr, r
    r = cli("finetune", "list", "--base-url", server.base_url, "--proxy", proxy.url)
    assert r.returncode == 0, r
    assert any("/fine_tuning/jobs" in line for line in proxy.seen), proxy.seen
