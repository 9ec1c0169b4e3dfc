"""The connect check over https: a certificate from a private CA fails the TLS check with a clear
message, and passes once the CA is trusted through SSL_CERT_FILE or --ca-bundle; --insecure reaches it
unchecked (and says so). health and top reach the server as `ask` does."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time

import pytest
import uvicorn
from certs import make_ca
from conftest import assert_no_traceback
from refserver import RefServer


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The reference server's app behind TLS, with a certificate from a private CA."""
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_ca(folder)
    ref = RefServer()  # only its app: served here over TLS
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        ref.app,
        log_level="critical",
        log_config=None,
        lifespan="off",
        http="h11",
        ws="none",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"https://127.0.0.1:{port}/v1", ca
    server.should_exit = True
    thread.join(5)


def test_untrusted_certificate_fails_the_tls_check_clearly(offline_cli, tls_server):
    url, _ = tls_server
    r = offline_cli(
        "health", "--base-url", url, "-m", "ref-model", "--format", "json", env={"SSL_CERT_FILE": ""}
    )
    assert_no_traceback(r.stderr)
    assert r.returncode == 6
    connect = json.loads(r.stdout)["checks"][0]
    assert connect["status"] == "fail"
    detail = connect["detail"]
    assert "TLS" in detail and "not trusted" in detail
    assert "CN=llmcli test CA" in detail and "CN=127.0.0.1" in detail  # what the server presented
    assert "--ca-bundle" in connect["hint"] and "SSL_CERT_FILE" in connect["hint"]
    assert connect["data"]["steps_s"].keys() == {"dns", "tcp"}  # DNS and TCP were fine


def test_certificate_trusted_through_ssl_cert_file_passes(offline_cli, tls_server):
    url, ca = tls_server
    r = offline_cli(
        "health", "--base-url", url, "-m", "ref-model", "--format", "json", env={"SSL_CERT_FILE": str(ca)}
    )
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    connect = json.loads(r.stdout)["checks"][0]
    tls = connect["data"]["tls"]
    assert tls["subject"] == "CN=127.0.0.1" and tls["issuer"] == "CN=llmcli test CA"
    assert tls["days_left"] in (88, 89, 90) and tls["version"].startswith("TLS")
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=90)).strftime("%Y-%m-%d")
    assert f"certificate CN=127.0.0.1 expires {tls['expires']}" in connect["detail"]
    assert tls["expires"] in (expires, (dt.datetime.now(dt.UTC) + dt.timedelta(days=89)).strftime("%Y-%m-%d"))
    assert "TLS" in connect["detail"]


def test_ca_bundle_flag_is_honoured_by_every_check(offline_cli, tls_server):
    url, ca = tls_server
    r = offline_cli(
        "health",
        "--base-url",
        url,
        "-m",
        "ref-model",
        "--format",
        "json",
        "--ca-bundle",
        str(ca),
        env={"SSL_CERT_FILE": ""},
    )
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    checks = json.loads(r.stdout)["checks"]
    assert checks[0]["data"]["tls"]["issuer"] == "CN=llmcli test CA"
    assert all(c["status"] != "fail" for c in checks), checks  # /health, /models, the completion too


def test_insecure_reaches_an_untrusted_server_and_warns(offline_cli, tls_server):
    url, _ = tls_server
    r = offline_cli(
        "health",
        "--base-url",
        url,
        "-m",
        "ref-model",
        "--format",
        "json",
        "--insecure",
        env={"SSL_CERT_FILE": ""},
    )
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    connect = json.loads(r.stdout)["checks"][0]
    assert connect["data"]["tls"]["subject"] == "not verified (insecure)"
    assert "TLS certificates are not verified for 127.0.0.1" in r.stderr


def test_top_with_ca_bundle(offline_cli, tls_server):
    url, ca = tls_server
    r = offline_cli("top", "--base-url", url, "--once", "--format", "json", env={"SSL_CERT_FILE": ""})
    assert r.returncode == 6 and "CERTIFICATE_VERIFY_FAILED" in r.stderr and "--ca-bundle" in r.stderr, r
    r = offline_cli(
        "top",
        "--base-url",
        url,
        "--once",
        "--format",
        "json",
        "--ca-bundle",
        str(ca),
        env={"SSL_CERT_FILE": ""},
    )
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["url"].startswith("https://127.0.0.1:")
