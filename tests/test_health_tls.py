"""The connect check over https: a certificate from a private CA fails the TLS check with a clear
message, and passes once the CA is trusted through SSL_CERT_FILE or --ca-bundle; --insecure reaches it
unchecked (and says so). health and top reach the server as `ask` does."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from conftest import assert_no_traceback
from refserver import RefServer


def _make_certs(folder: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmcli test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, cert_pem, key_pem = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem, cert_pem, key_pem


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The reference server's app behind TLS, with a certificate from a private CA."""
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key = _make_certs(folder)
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
