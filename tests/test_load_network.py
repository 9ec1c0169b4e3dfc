"""The load engine (bench, batch run) honours the same network settings as every command: a private CA
through --ca-bundle, --insecure, --proxy (and its credentials), the *_PROXY variables, and refuses a
SOCKS proxy it cannot use with a clear error."""

from __future__ import annotations

import asyncio

import pytest
from refserver import Scenario
from test_network import Proxy

from llmcli.errors import UsageError
from llmcli.load.engine import Engine
from llmcli.load.types import EngineOptions, LoadRequest, LoadShape
from llmcli.load.wire import proxy_settings
from llmcli.transport.base import TransportConfig

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def proxy():
    p = Proxy()
    yield p
    p.close()


def run_once(config: TransportConfig):
    async def main():
        records = []
        async with Engine(config, EngineOptions(keep_body=True)) as engine:
            await engine.run(
                [LoadRequest(body=dict(BODY), stream=False)],
                shape=LoadShape(concurrency=1),
                on_record=records.append,
            )
        return records[0]

    return asyncio.run(main())


def test_private_ca_untrusted_then_trusted_through_ca_bundle_then_insecure(tls):
    srv, ca_pem = tls
    srv.reset()
    rec = run_once(TransportConfig(srv.base_url, None, timeout=10))
    assert rec.kind == "connection" and "CERTIFICATE_VERIFY_FAILED" in rec.error.message.upper(), rec.error
    assert "TLS" in rec.error.message and "127.0.0.1" in rec.error.message
    srv.push(Scenario(text="over TLS"))
    rec = run_once(TransportConfig(srv.base_url, None, timeout=10, ca_bundle=str(ca_pem)))
    assert rec.ok and rec.body["choices"][0]["message"]["content"] == "over TLS", rec.error
    rec = run_once(TransportConfig(srv.base_url, None, timeout=10, insecure=True))
    assert rec.ok, rec.error


def test_proxy_setting_carries_requests_with_credentials_and_tunnels_tls(server, tls, proxy):
    server.push(Scenario(text="through the proxy"))
    user_url = proxy.url.replace("http://", "http://alice:s%40cret@")
    rec = run_once(TransportConfig(server.base_url, None, timeout=10, proxy=user_url))
    assert rec.ok and rec.body["choices"][0]["message"]["content"] == "through the proxy", rec.error
    assert proxy.seen == [f"POST {server.base_url}/chat/completions"]
    assert proxy.auth == ["Basic YWxpY2U6c0BjcmV0"]  # alice:s@cret, percent-decoded
    srv, ca_pem = tls
    srv.reset()
    rec = run_once(TransportConfig(srv.base_url, None, timeout=10, ca_bundle=str(ca_pem), proxy=proxy.url))
    assert rec.ok, rec.error
    assert proxy.seen[-1] == f"CONNECT 127.0.0.1:{srv.port}"


def test_proxy_flag_beats_no_proxy_and_the_environment_applies_without_it(server, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "")
    assert proxy_settings(TransportConfig("http://api.example/v1", None)) == (proxy.url, None)
    with_user = proxy.url.replace("http://", "http://bob:pw@")
    assert proxy_settings(TransportConfig("http://x/v1", None, proxy=with_user)) == (proxy.url, ("bob", "pw"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert proxy_settings(TransportConfig(server.base_url, None)) == (None, None)
    explicit = proxy_settings(TransportConfig(server.base_url, None, proxy=proxy.url))
    assert explicit == (proxy.url, None)  # --proxy is used for every request, NO_PROXY or not


def test_a_socks_proxy_is_refused_in_words_without_its_password():
    with pytest.raises(UsageError) as err:
        proxy_settings(
            TransportConfig("http://127.0.0.1:9/v1", None, proxy="socks5://u:hunter2@127.0.0.1:1080")
        )
    assert "socks5 proxy" in str(err.value) and "hunter2" not in str(err.value)


def test_batch_run_sends_through_the_settings_given_on_its_command_line(cli, server, tls, proxy, tmp_path):
    """End to end: the flags reach the engine (the probe before the run uses the sync transport; only the
    engine sends the file's requests)."""
    import json

    srv, ca_pem = tls
    srv.reset()
    src = tmp_path / "in.jsonl"
    line = {"method": "POST", "url": "/v1/chat/completions", "body": BODY}
    src.write_text("".join(json.dumps({"custom_id": f"c{i}", **line}) + "\n" for i in range(3)))
    out = tmp_path / "out.jsonl"
    r = cli("batch", "run", str(src), "-o", str(out), "--base-url", srv.base_url, "--ca-bundle", str(ca_pem))
    assert r.returncode == 0, r
    assert len(srv.chat_requests()) == 3 and out.read_text().count('"status_code":200') == 3
    out.unlink()
    r = cli("batch", "run", str(src), "-o", str(out), "--base-url", server.base_url, "--proxy", proxy.url)
    assert r.returncode == 0, r
    assert proxy.seen.count(f"POST {server.base_url}/chat/completions") == 3


def test_bench_takes_them_after_its_name(cli, server, tls, proxy):
    """`llmcli bench --ca-bundle/--insecure/--proxy`, as every command that talks to a server takes them
    (bench honoured them only before its name, on the root, until it declared them)."""
    import json

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
