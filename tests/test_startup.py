"""Startup costs only what a run needs: `--version` answers before the CLI tree is built, and a plain
http:// server costs no certificate store (loading the CA bundle), while https:// is verified as ever."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys

import pytest
from conftest import clean_env
from refserver import Scenario

from llmcli.errors import NetworkFailed
from llmcli.transport.base import TransportConfig
from llmcli.transport.http import HttpTransport


def modules_after(home, *args: str) -> set[str]:
    probe = (
        "import sys, json, atexit\n"
        "atexit.register(lambda: print(chr(10) + json.dumps(sorted(sys.modules))))\n"
        f"sys.argv = ['llmcli', *{args!r}]\n"
        "import llmcli.__main__ as m\n"
        "m.main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=clean_env(home), timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("llmcli "), out.stdout
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_answers_before_the_cli_tree_is_built(home, flag):
    mods = modules_after(home, flag)
    assert not {m for m in mods if m.split(".")[0] in ("typer", "click", "rich", "httpx")}, mods
    assert not {m for m in mods if m.startswith("llmcli.cli")}


@pytest.fixture
def tls_contexts(monkeypatch) -> list[ssl.SSLContext]:
    """Every verifying TLS context httpx builds (it builds them with ssl.create_default_context)."""
    made: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def spy(*args, **kw):
        ctx = real(*args, **kw)
        made.append(ctx)
        return ctx

    monkeypatch.setattr(ssl, "create_default_context", spy)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return made


def test_an_http_server_costs_no_tls_context(server, tls_contexts):
    client = HttpTransport(TransportConfig(server.base_url, None, timeout=10, max_retries=0))
    try:
        assert [m.id for m in client.list_models()]
    finally:
        client.close()
    assert tls_contexts == []


def test_https_keeps_httpx_certificate_verification(tls_contexts):
    client = HttpTransport(TransportConfig("https://127.0.0.1:9/v1", None, timeout=5, max_retries=0))
    client.close()
    assert len(tls_contexts) == 1
    assert tls_contexts[0].verify_mode == ssl.CERT_REQUIRED and tls_contexts[0].check_hostname


def test_a_redirect_from_http_to_https_fails_closed(server, tls_contexts):
    """For an http:// base URL no certificate store is loaded, so a redirect to https:// cannot be
    verified: it fails instead of going on unverified (transport/tls.py)."""
    server.push(Scenario(redirect_to=f"https://127.0.0.1:{server.port}/v1/models"))
    client = HttpTransport(TransportConfig(server.base_url, None, timeout=10, max_retries=0))
    try:
        with pytest.raises(NetworkFailed):
            client.list_models()
    finally:
        client.close()
    assert tls_contexts == []
