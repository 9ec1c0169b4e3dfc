"""`llmcli health`: the checks, in order, each a plain function of the round's shared state.

A check returns a CheckResult: ok, warn (passed, with a remark), skip (not applicable, or not
possible after an earlier failure) or fail (with the exit code of CONTRACT.md's class: 3 key, 4
model or request rejected, 6 network or server, 7 broken stream). Every network wait is bounded by
the check timeout, so a round always ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.types import ChatRequest, Message, ModelInfo
from ..errors import AuthFailed, IncompleteAnswer, Interrupted, LlmcliError
from ..transport.base import TransportConfig
from .net import RootClient, probe_connect, status_error

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "fail"
PROMPT = "Say hello in a few words."
SEED = 4242


@dataclass(slots=True)
class CheckResult:
    name: str
    status: str
    detail: str
    seconds: float | None = None
    exit_code: int | None = None
    hint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": None if self.seconds is None else round(self.seconds, 4),
            "detail": self.detail,
            "exit_code": self.exit_code,
            "hint": self.hint,
            "data": self.data,
        }


def failed(name: str, exc: LlmcliError, **data: Any) -> CheckResult:
    return CheckResult(name, FAIL, exc.message, exit_code=int(exc.exit_code), hint=exc.hint, data=data)


@dataclass(slots=True)
class HealthOptions:
    max_tokens: int = 16
    check_timeout: float = 20.0
    full: bool = False


class Probe:
    """What the checks of one round share: the clients, and what the earlier checks learned."""

    def __init__(self, settings, key, options: HealthOptions, transport_factory: Callable[[float], Any]):
        self.settings = settings
        self.key = key  # a ResolvedKey: only its presence and source are ever shown
        self.options = options
        self.timeout = min(settings.timeout, options.check_timeout)
        self.config = TransportConfig.from_settings(settings, key.key)
        self.root = RootClient(self.config, self.timeout)
        self._factory = transport_factory
        self._transport = None
        self.connected = True
        self._models: list[ModelInfo] | None = None
        self.models_error: LlmcliError | None = None
        self.model: str | None = None  # the model the completion checks use
        self.no_model: str | None = None  # why there is none
        self.key_refused: LlmcliError | None = None
        self.models_seconds: float | None = None  # the GET /models round trip
        self.props: dict | None = None
        self.reference: str | None = (
            None  # --full: the non-streamed answer the seed and stop checks compare with
        )

    @property
    def transport(self):
        if self._transport is None:
            self._transport = self._factory(self.timeout)
        return self._transport

    def list_models(self) -> list[ModelInfo] | None:
        """GET /models once per round (identity and models both need it); None after a failure."""
        if self._models is None and self.models_error is None:
            began = time.perf_counter()
            try:
                self._models = self.transport.list_models()
            except AuthFailed as exc:
                self.models_error = self.key_refused = exc
            except LlmcliError as exc:
                self.models_error = exc
            finally:
                self.models_seconds = time.perf_counter() - began
        return self._models

    def close(self) -> None:
        self.root.close()
        if self._transport is not None:
            self._transport.close()


# --- the checks -----------------------------------------------------------------------------


def check_connect(p: Probe) -> CheckResult:
    report = probe_connect(p.config, p.timeout)
    data: dict[str, Any] = {
        "host": report.host,
        "port": report.port,
        "address": report.address,
        "proxy": report.proxy,
        "steps_s": {k: round(v, 4) for k, v in report.steps.items()},
        "tls": report.tls,
    }
    if report.error is not None:
        p.connected = False
        return CheckResult(
            "connect",
            FAIL,
            report.error.message,
            exit_code=int(report.error.exit_code),
            hint=report.error.hint,
            data=data,
        )
    detail = report.detail()
    days = (report.tls or {}).get("days_left")
    if days is not None and days < 14:
        return CheckResult("connect", WARN, f"{detail} — the certificate expires in {days} days", data=data)
    return CheckResult("connect", OK, detail, data=data)


def check_health_endpoint(p: Probe) -> CheckResult:
    try:
        got = p.root.get("health")
    except LlmcliError as exc:
        return failed("health", exc)
    data = {"url": p.root.url("health"), "http_status": got.status}
    if got.status < 300:
        body = got.json()
        said = body.get("status") if isinstance(body, dict) else None
        return CheckResult("health", OK, f"/health: {said or 'HTTP ' + str(got.status)}", data=data)
    if got.status in (404, 405, 501):
        if _ollama_root(p):
            return CheckResult(
                "health", OK, "Ollama is running (GET /)", data={**data, "url": p.root.url("")}
            )
        return CheckResult("health", SKIP, f"not offered (/health: HTTP {got.status})", data=data)
    if got.status in (401, 403):
        return CheckResult(
            "health", SKIP, f"/health wants credentials (HTTP {got.status}); see key", data=data
        )
    err = status_error(got, data["url"])
    if got.status == 503:
        err.message = "not ready: /health answered HTTP 503" + (
            f": {err.server_message}" if err.server_message else ""
        )
        err.hint = "the server is starting (loading the model) or overloaded; try again shortly"
    return failed("health", err, **data)


def _ollama_root(p: Probe) -> bool:
    try:
        got = p.root.get("", timeout=min(p.timeout, 5))
    except LlmcliError:
        return False
    return got.status == 200 and "ollama is running" in got.text.lower()


def _json_at(p: Probe, path: str) -> dict | None:
    try:
        got = p.root.get(path, timeout=min(p.timeout, 5))
    except LlmcliError:
        return None
    body = got.json() if got.status == 200 else None
    return body if isinstance(body, dict) else None


def identify(
    server_headers: list[str], props: dict | None, version: dict | None, ollama: dict | None, owners: set[str]
) -> tuple[str | None, str | None]:
    """(server, version) from what the server says about itself; None when it cannot be told."""
    headers = " ".join(server_headers).lower()
    if props is not None and ("build_info" in props or "default_generation_settings" in props):
        return "llama.cpp", str(props.get("build_info") or "") or None
    if "llama.cpp" in headers or "llamacpp" in owners:
        return "llama.cpp", None
    if ollama is not None and ollama.get("version"):
        return "Ollama", str(ollama["version"])
    v = str(version["version"]) if version and version.get("version") else None
    for owner, name in (("vllm", "vLLM"), ("sglang", "SGLang"), ("tgi", "TGI")):
        if owner in owners:
            return name, v
    if "text-generation" in headers:
        return "TGI", v
    if owners & {"openai", "system", "openai-internal"}:
        return "OpenAI", None
    return None, v


def check_identity(p: Probe) -> CheckResult:
    p.props = _json_at(p, "props")
    version = _json_at(p, "version")
    ollama = _json_at(p, "api/version")
    models = p.list_models() or []
    owners = {str(m.owned_by).lower() for m in models if m.owned_by}
    headers = list(dict.fromkeys(p.root.server_headers))
    server, ver = identify(headers, p.props, version, ollama, owners)
    evidence = []
    if headers:
        evidence.append("Server: " + ", ".join(headers))
    if p.props is not None:
        evidence.append("/props")
    if version is not None:
        evidence.append(f"/version {version.get('version')}")
    if ollama is not None:
        evidence.append(f"/api/version {ollama.get('version')}")
    if owners:
        evidence.append("owned_by " + ", ".join(sorted(owners)))
    data = {
        "server": server,
        "version": ver,
        "server_header": headers,
        "owned_by": sorted(owners),
        "props": p.props is not None,
    }
    if server is None and not evidence:
        return CheckResult(
            "identity", SKIP, "not identified (no Server header, /props, /version or owned_by)", data=data
        )
    name = " ".join(x for x in (server or "unknown server", ver) if x)
    return CheckResult("identity", OK, f"{name} ({'; '.join(evidence)})", data=data)


def check_models(p: Probe) -> CheckResult:
    result = _models_result(p)
    result.seconds = p.models_seconds  # the round trip, whichever check asked first
    return result


def _models_result(p: Probe) -> CheckResult:
    models = p.list_models()
    wanted = p.settings.model
    if models is None:
        assert p.models_error is not None
        p.no_model = "the model list could not be read"
        if p.key_refused is not None:
            if wanted:
                p.model, p.no_model = wanted, None
            return CheckResult("models", SKIP, "not listed: the key was refused (see key)")
        if wanted:  # the completion may still work: try it and report that too
            p.model, p.no_model = wanted, None
        return failed("models", p.models_error)
    ids = [m.id for m in models]
    data: dict[str, Any] = {"count": len(ids), "ids": ids[:50], "configured": wanted}
    listing = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
    if wanted:
        p.model = wanted
        data["present"] = wanted in ids
        if wanted in ids:
            return CheckResult("models", OK, f"{len(ids)} listed; {wanted} is among them", data=data)
        return CheckResult(
            "models",
            FAIL,
            f"{wanted} is not among the {len(ids)} models the server lists ({listing or 'none'})",
            exit_code=4,
            hint="pick one with -m (see `llmcli models`), or fix the profile's model",
            data=data,
        )
    if len(ids) == 1:
        p.model = ids[0]
        data["using"] = ids[0]
        return CheckResult("models", OK, f"1 listed: {ids[0]} (no model configured: using it)", data=data)
    if not ids:
        p.no_model = "the server lists no models and none is configured; pass -m MODEL"
        return CheckResult("models", WARN, "the server lists no models", data=data)
    p.no_model = f"no model configured and the server lists {len(ids)}: pass -m MODEL"
    return CheckResult("models", OK, f"{len(ids)} listed ({listing}); none configured", data=data)


def check_key(p: Probe) -> CheckResult:
    has_key = bool(p.key.key)
    data: dict[str, Any] = {"source": p.key.source if has_key else None}
    if p.key_refused is not None:
        err = p.key_refused
        data["state"] = "refused"
        if not has_key:
            return CheckResult(
                "key",
                FAIL,
                f"the server wants a key and none is configured (HTTP {err.status})",
                exit_code=3,
                hint="set LLMCLI_API_KEY, or store one with `llmcli auth login`",
                data=data,
            )
        return CheckResult("key", FAIL, f"refused: {err.message}", exit_code=3, hint=err.hint, data=data)
    if p.models_error is not None:
        data["state"] = "unknown"
        return CheckResult("key", SKIP, "unknown: the model list could not be read", data=data)
    if not has_key:
        data["state"] = "not_needed"
        return CheckResult("key", OK, "not needed: no key is configured and the server answered", data=data)
    # A key was sent and accepted. Does the server need it? An empty request without the key is
    # refused (401/403) by a server that checks keys, and rejected as malformed (400/422) by one that
    # does not; it never starts any work.
    try:
        got = p.root.request(
            "POST", p.settings.base_url.rstrip("/") + "/chat/completions", json={}, with_key=False
        )
    except LlmcliError:
        data["state"] = "accepted"
        return CheckResult("key", OK, f"accepted (from {p.key.source})", data=data)
    if got.status in (401, 403):
        data["state"] = "accepted"
        return CheckResult("key", OK, f"accepted (from {p.key.source}); required by the server", data=data)
    data["state"] = "not_needed"
    return CheckResult(
        "key",
        OK,
        f"not needed: the server also answers without a key (a key is set, from {p.key.source})",
        data=data,
    )


class _Deadline:
    """A sink for run_turn that bounds a whole answer, not just each wait, by the check timeout."""

    def __init__(self, seconds: float, host: str):
        self.seconds = seconds
        self.host = host
        self.until = time.perf_counter() + seconds

    def start(self) -> None: ...

    def text(self, delta: str) -> None:
        self._check()

    def reasoning(self, delta: str) -> None:
        self._check()

    def end(self) -> None: ...

    def _check(self) -> None:
        if time.perf_counter() > self.until:
            raise IncompleteAnswer(
                f"the answer from {self.host} did not finish within {self.seconds:g} s",
                host=self.host,
                hint="a slow server: raise --check-timeout, or lower --max-tokens",
            )


def _completion(p: Probe, *, stream: bool, **params: Any):
    from ..turn import run_turn

    request = ChatRequest(
        model=p.model or "",
        messages=[Message("user", PROMPT)],
        params={"max_tokens": p.options.max_tokens, **params},
    )
    outcome = run_turn(p.transport, request, _Deadline(p.timeout, p.root.root), stream=stream)
    if isinstance(outcome.error, Interrupted):
        raise outcome.error
    return outcome


def _cannot_complete(p: Probe, name: str) -> CheckResult | None:
    if p.key_refused is not None:
        return CheckResult(name, SKIP, "not tried: the key was refused")
    if p.model is None:
        return CheckResult(name, SKIP, f"not tried: {p.no_model}")
    return None


def _empty_but_finished(outcome) -> bool:
    return (
        isinstance(outcome.error, IncompleteAnswer)
        and not outcome.content
        and outcome.finish_reason is not None
    )


def check_stream(p: Probe) -> CheckResult:
    skipped = _cannot_complete(p, "stream")
    if skipped:
        return skipped
    out = _completion(p, stream=True)
    t = out.timing
    usage = out.usage is not None and not out.usage_estimated
    tokens = out.usage.completion_tokens if out.usage else None
    data = {
        "model": out.model,
        "ttft_s": t.to_dict()["ttft_s"],
        "total_s": t.to_dict()["total_s"],
        "tokens_per_s": t.to_dict()["tokens_per_s"],
        "completion_tokens": tokens,
        "usage": usage,
        "finish_reason": out.finish_reason,
        "max_tokens": p.options.max_tokens,
    }
    if out.error is not None and not _empty_but_finished(out):
        return failed("stream", out.error, **data)
    parts = [
        f"ttft {t.ttft_s:.2f} s" if t.ttft_s is not None else "ttft -",
        f"{t.tokens_per_s:.0f} tokens/s" if t.tokens_per_s else "- tokens/s",
        f"{tokens} tokens" if tokens is not None else f"~{len(out.content) // 4} tokens",
        "usage " + ("yes" if usage else "no"),
        f"finish {out.finish_reason or '-'}",
    ]
    detail = " · ".join(parts)
    if _empty_but_finished(out):
        return CheckResult("stream", WARN, f"{detail} — an empty answer", data=data)
    if not usage:
        return CheckResult(
            "stream", WARN, f"{detail} — no usage chunk despite stream_options.include_usage", data=data
        )
    return CheckResult("stream", OK, detail, data=data)


def check_complete(p: Probe) -> CheckResult:
    skipped = _cannot_complete(p, "complete")
    if skipped:
        return skipped
    out = _completion(p, stream=False, seed=SEED)
    data = {"chars": len(out.content), "finish_reason": out.finish_reason, "seed": SEED}
    if out.error is not None and not _empty_but_finished(out):
        return failed("complete", out.error, **data)
    p.reference = out.content
    detail = f"non-streamed: {len(out.content)} characters in {out.timing.total_s or 0:.2f} s · finish {out.finish_reason or '-'}"
    return CheckResult("complete", OK if out.content else WARN, detail, data=data)


def check_seed(p: Probe) -> CheckResult:
    if p.reference is None:
        return CheckResult("seed", SKIP, "not tried: no non-streamed answer to compare with")
    out = _completion(p, stream=False, seed=SEED)
    if out.error is not None and not _empty_but_finished(out):
        return failed("seed", out.error)
    same = out.content == p.reference
    data = {"seed": SEED, "same": same}
    if same:
        return CheckResult("seed", OK, f"reproducible: the same text twice with seed {SEED}", data=data)
    return CheckResult(
        "seed",
        WARN,
        f"not reproducible: two answers with seed {SEED} differ (the server does not promise it)",
        data=data,
    )


def pick_stop(text: str) -> tuple[str, int] | None:
    """A stop sequence from a reference answer: 3 characters, first found at least a third of the way
    in, not bounded by whitespace. Returns it and where it begins (the length a server should stop at)."""
    for i in range(max(1, len(text) // 3), len(text) - 2):
        s = text[i : i + 3]
        if s[0].isspace() or s[-1].isspace() or "\n" in s:
            continue
        if text.find(s) == i:
            return s, i
    return None


def check_stop(p: Probe) -> CheckResult:
    if p.reference is None:
        return CheckResult("stop", SKIP, "not tried: no non-streamed answer to take a stop sequence from")
    picked = pick_stop(p.reference)
    if picked is None:
        return CheckResult("stop", SKIP, "not tried: the answer is too short to take a stop sequence from")
    stop, at = picked
    out = _completion(p, stream=False, seed=SEED, stop=[stop])
    data = {
        "stop": stop,
        "reference_chars": at,
        "chars": len(out.content),
        "finish_reason": out.finish_reason,
    }
    if out.error is not None and not _empty_but_finished(out):
        return failed("stop", out.error, **data)
    if stop in out.content:
        return CheckResult(
            "stop",
            FAIL,
            f"not honoured: the answer goes on past the stop sequence {stop!r}",
            exit_code=7,
            hint="the server ignores `stop`; answers will not end where asked",
            data=data,
        )
    return CheckResult(
        "stop",
        OK,
        f"honoured: {stop!r} ended the answer after {len(out.content)} characters (finish {out.finish_reason or '-'})",
        data=data,
    )


def check_context(p: Probe) -> CheckResult:
    found: tuple[int, str] | None = None
    settings = (p.props or {}).get("default_generation_settings")
    if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
        found = settings["n_ctx"], "/props n_ctx"
    for m in p.list_models() or []:
        if found:
            break
        if m.id != p.model and p.model is not None:
            continue
        if isinstance(m.raw.get("max_model_len"), int):
            found = m.raw["max_model_len"], "/models max_model_len"
        elif isinstance((m.raw.get("meta") or {}).get("n_ctx"), int):
            found = m.raw["meta"]["n_ctx"], "/models meta.n_ctx"
    if found is None:
        return CheckResult("context", SKIP, "not stated by the server")
    return CheckResult(
        "context", OK, f"{found[0]} tokens ({found[1]})", data={"tokens": found[0], "from": found[1]}
    )


BASIC: tuple[tuple[str, Callable[[Probe], CheckResult]], ...] = (
    ("connect", check_connect),
    ("health", check_health_endpoint),
    ("identity", check_identity),
    ("models", check_models),
    ("key", check_key),
    ("stream", check_stream),
)
FULL: tuple[tuple[str, Callable[[Probe], CheckResult]], ...] = (
    ("complete", check_complete),
    ("seed", check_seed),
    ("stop", check_stop),
    ("context", check_context),
)


def check_names(full: bool) -> list[str]:
    return [name for name, _ in BASIC + (FULL if full else ())]


def run_checks(p: Probe) -> Iterator[CheckResult]:
    """The checks in order, each yielded as it completes (timed)."""
    for name, check in BASIC + (FULL if p.options.full else ()):
        began = time.perf_counter()
        if not p.connected:
            yield CheckResult(name, SKIP, "not tried: no connection (see connect)", seconds=0.0)
            continue
        result = check(p)
        if result.seconds is None:
            result.seconds = time.perf_counter() - began
        yield result


def exit_code(results: list[CheckResult]) -> int:
    """0 when nothing failed, else the exit code of the first check that failed."""
    for r in results:
        if r.status == FAIL:
            return r.exit_code or 1
    return 0


def latency(results: list[CheckResult]) -> float | None:
    """The figure `--watch` plots: time to first token of the streamed completion, else the /models
    round trip (the identity check's time is not a latency)."""
    for r in results:
        if r.name == "stream" and r.data.get("ttft_s") is not None:
            return r.data["ttft_s"]
    for r in results:
        if r.name == "models" and r.status in (OK, WARN):
            return r.seconds
    return None
