"""The network options (--ca-bundle, --insecure, --proxy) are taken after the command name by every
command that talks to a server, as docs/network.md says — not only before it, on the root.

bench and the job commands (files, batch, finetune) honoured them when given before the command name
but refused them after it; these tests hold them to the docs."""

from __future__ import annotations

import json

import pytest
from docs_examples import root_command
from refserver import RefServer
from test_network import Proxy, make_ca

from llmcli.cli.options import is_connection_option

NETWORK = {"--ca-bundle", "--insecure", "--proxy"}
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
# Not yet: their probes use a client of their own (llmcli/monitor/net.py) that reads only
# SSL_CERT_FILE / SSL_CERT_DIR and the standard proxy variables; docs/network.md says so.
NOT_YET = {("health",), ("top",)}


def leaf_commands(command=None, path=()):
    command = command or root_command()
    if not hasattr(command, "commands"):
        yield path, command
        return
    for name, sub in command.commands.items():
        yield from leaf_commands(sub, (*path, name))


def covered(path, prefixes) -> bool:
    return any(path[: len(p)] == p for p in prefixes)


def test_every_command_that_talks_to_a_server_takes_the_network_options():
    for path, command in leaf_commands():
        declared = {p.opts[0] for p in command.params if is_connection_option(p)}
        if covered(path, OFFLINE | NOT_YET):
            continue
        assert declared >= NETWORK, f"llmcli {' '.join(path)} lacks {sorted(NETWORK - declared)}"


def test_the_docs_name_the_commands_that_do_not_take_them_yet():
    from docs_examples import DOCS

    text = " ".join((DOCS / "network.md").read_text().split())
    for path in NOT_YET:
        assert f"`{' '.join(path)}`" in text.split("## Certificates")[1], path


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca_pem, cert_pem, key_pem = make_ca(tmp_path_factory.mktemp("tls"))
    srv = RefServer()
    srv.scheme = "https"
    srv.uvicorn_options = {"ssl_certfile": str(cert_pem), "ssl_keyfile": str(key_pem)}
    srv.start()
    yield srv, ca_pem
    srv.stop()


@pytest.fixture
def proxy():
    p = Proxy()
    yield p
    p.close()


def test_bench_takes_them_after_its_name(cli, server, tls, proxy):
    srv, ca_pem = tls
    args = ("-m", "m", "-n", "2", "--input-len", "8", "--output-len", "4", "--format", "json")
    srv.reset()
    r = cli("bench", "--base-url", srv.base_url, "--ca-bundle", str(ca_pem), *args)
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["stages"][0]["completed"] == 2
    r = cli("bench", "--base-url", srv.base_url, "--insecure", *args)
    assert r.returncode == 0 and "not verified" in r.stderr, r
    r = cli("bench", "--base-url", server.base_url, "--proxy", proxy.url, *args)
    assert r.returncode == 0, r
    assert proxy.seen.count(f"POST {server.base_url}/chat/completions") >= 2


def test_job_commands_take_them_after_their_name(cli, server, tls, proxy):
    srv, ca_pem = tls
    r = cli("files", "list", "--base-url", srv.base_url, "--ca-bundle", str(ca_pem))
    assert r.returncode == 0, r
    r = cli("batch", "list", "--base-url", srv.base_url, "--insecure")
    assert r.returncode == 0 and "not verified" in r.stderr, r
    r = cli("finetune", "list", "--base-url", server.base_url, "--proxy", proxy.url)
    assert r.returncode == 0, r
    assert any("/fine_tuning/jobs" in line for line in proxy.seen), proxy.seen
