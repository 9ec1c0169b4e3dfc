"""A request as something to run elsewhere (`--show-request`): a curl or httpie command, a Python
`requests` or openai-SDK snippet, or the raw JSON. Text only (no rich), from core.types.WireRequest.

The key never appears: the Authorization header reads it from an environment variable (`key_env`).
"""

from __future__ import annotations

import json
from typing import Any

from ..core.types import SDK_TYPED, WireRequest

FORMS = ("curl", "python", "openai", "json", "httpie")


def render(wire: WireRequest, form: str, *, key_env: str | None, endpoint: str) -> str:
    """`endpoint` is the path under the base URL (chat/completions, completions, embeddings)."""
    if form not in FORMS:
        raise ValueError(form)
    return {"curl": _curl, "python": _python, "openai": _openai, "json": _json, "httpie": _httpie}[form](
        wire, key_env, endpoint
    )


def _headers(wire: WireRequest, key_env: str | None) -> list[tuple[str, str, bool]]:
    """(name, value, needs the shell to expand it); the key replaced by the variable."""
    out = []
    for name, value in wire.headers.items():
        if name.lower() == "authorization":
            if key_env:
                out.append((name, f"Bearer ${key_env}", True))
            continue
        out.append((name, value, False))
    return out


def sh_quote(text: str) -> str:
    """One shell word, single-quoted (a ' inside becomes '\\'')."""
    return "'" + text.replace("'", "'\\''") + "'"


def _sh_header(name: str, value: str, expand: bool, sep: str) -> str:
    if expand:  # double quotes so that the shell puts the key in; nothing else in it to expand
        return f'"{name}{sep}{value}"'
    return sh_quote(f"{name}{sep}{value}")


def _body_text(wire: WireRequest) -> str:
    content = wire.content()
    return content.decode("utf-8") if content is not None else ""


def _streams(wire: WireRequest) -> bool:
    return bool(wire.body and wire.body.get("stream") is True)


def _curl(wire: WireRequest, key_env: str | None, endpoint: str) -> str:
    lines = [f"curl -sS{'N' if _streams(wire) else ''} -X {wire.method} {sh_quote(wire.url)}"]
    for name, value, expand in _headers(wire, key_env):
        lines.append(f"-H {_sh_header(name, value, expand, ': ')}")
    if wire.body is not None:
        lines.append(f"--data-raw {sh_quote(_body_text(wire))}")
    return " \\\n  ".join(lines) + "\n"


def _httpie(wire: WireRequest, key_env: str | None, endpoint: str) -> str:
    words = ["http", "--ignore-stdin"]
    if _streams(wire):
        words.append("--stream")
    lines = [" ".join([*words, wire.method, sh_quote(wire.url)])]
    for name, value, expand in _headers(wire, key_env):
        lines.append(_sh_header(name, value, expand, ":"))
    if wire.body is not None:
        lines.append(f"--raw {sh_quote(_body_text(wire))}")
    return " \\\n  ".join(lines) + "\n"


def _json(wire: WireRequest, key_env: str | None, endpoint: str) -> str:
    headers = {name: value for name, value, _ in _headers(wire, key_env)}
    doc = {"method": wire.method, "url": wire.url, "headers": headers, "body": wire.body}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


# --- Python ----------------------------------------------------------------------------------------


def py_literal(value: Any, indent: int = 0) -> str:
    """A Python expression for JSON data, laid out like JSON (strings in JSON's escapes, which Python reads)."""
    pad = "    " * (indent + 1)
    end = "    " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {py_literal(v, indent + 1)},"
            for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + f"\n{end}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, dict | list) for v in value):
            flat = "[" + ", ".join(py_literal(v) for v in value) + "]"
            if len(flat) <= 80:
                return flat
        items = [f"{pad}{py_literal(v, indent + 1)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{end}]"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if value is None:
        return "None"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _key_note(key_env: str | None) -> str:
    return (
        f"# The key is read from ${key_env}.\n"
        if key_env
        else "# No key is sent: none is configured for this server.\n"
    )


_PRINT_TEXT = {
    "chat/completions": (
        'choice["delta"].get("content") or ""',
        'data["choices"][0]["message"]["content"] or ""',
    ),
    "completions": ('choice.get("text") or ""', 'data["choices"][0]["text"] or ""'),
}


def _python(wire: WireRequest, key_env: str | None, endpoint: str) -> str:
    out = ["import json", "import os", "", "import requests", "", _key_note(key_env).rstrip("\n")]
    out.append(f"url = {json.dumps(wire.url)}")
    out.append("headers = {")
    for name, value, expand in _headers(wire, key_env):
        shown = (
            f'"Bearer " + os.environ[{json.dumps(key_env)}]'
            if expand
            else json.dumps(value, ensure_ascii=False)
        )
        out.append(f"    {json.dumps(name)}: {shown},")
    out.append("}")
    if wire.body is not None:
        out.append(f"body = {py_literal(wire.body)}")
    send = f"requests.request({json.dumps(wire.method)}, url, headers=headers"
    send += ", json=body" if wire.body is not None else ""
    stream = _streams(wire)
    send += ", stream=True, timeout=600)" if stream else ", timeout=600)"
    out += [f"response = {send}", "response.raise_for_status()"]
    texts = _PRINT_TEXT.get(endpoint)
    if texts is None:  # embeddings, models: the JSON as it came
        out.append("print(json.dumps(response.json(), ensure_ascii=False, indent=2))")
    elif stream:
        out += [
            "for raw in response.iter_lines():",
            '    line = raw.decode("utf-8")',
            '    if not line.startswith("data:"):',
            "        continue",
            "    data = line[5:].strip()",
            '    if data == "[DONE]":',
            "        break",
            "    chunk = json.loads(data)",
            '    for choice in chunk.get("choices") or []:',
            f'        print({texts[0]}, end="", flush=True)',
            "print()",
        ]
    else:
        out += ["data = response.json()", f"print({texts[1]})"]
    return "\n".join(out) + "\n"


_SDK_CALL = {"chat/completions": "client.chat.completions.create", "completions": "client.completions.create"}


def _openai(wire: WireRequest, key_env: str | None, endpoint: str) -> str:
    base_url = wire.url[: -len(endpoint) - 1] if wire.url.endswith("/" + endpoint) else wire.url
    headers = {name: value for name, value, expand in _headers(wire, key_env) if not expand}
    extra_headers = {k: v for k, v in headers.items() if k.lower() not in ("accept", "content-type")}
    key = f"os.environ[{json.dumps(key_env)}]" if key_env else '"none"'
    out = ["import os", "", "from openai import OpenAI", "", _key_note(key_env).rstrip("\n")]
    if not key_env:
        out.append('# (the SDK insists on a key: it sends "Bearer none", which a keyless server ignores)')
    out += [
        "client = OpenAI(",
        f"    base_url={json.dumps(base_url)},",
        f"    api_key={key},",
        f"    default_headers={py_literal(extra_headers, 1)},",
        ")",
    ]
    body = dict(wire.body or {})
    typed = SDK_TYPED.get(endpoint, frozenset())
    args = [f"    {k}={py_literal(v, 1)}," for k, v in body.items() if k in typed]
    extra = {k: v for k, v in body.items() if k not in typed}
    if extra:
        args.append(f"    extra_body={py_literal(extra, 1)},")
    stream = _streams(wire)
    if endpoint == "embeddings":
        out += [
            "result = client.embeddings.create(",
            *args,
            ")",
            "for item in sorted(result.data, key=lambda item: item.index):",
            "    print(item.embedding)",
        ]
    elif endpoint in _SDK_CALL:
        call = _SDK_CALL[endpoint]
        if stream:
            piece = (
                "chunk.choices[0].delta.content"
                if endpoint == "chat/completions"
                else "chunk.choices[0].text"
            )
            out += [
                f"stream = {call}(",
                *args,
                ")",
                "for chunk in stream:",
                "    if chunk.choices:",
                f'        print({piece} or "", end="", flush=True)',
                "print()",
            ]
        else:
            whole = (
                "result.choices[0].message.content"
                if endpoint == "chat/completions"
                else "result.choices[0].text"
            )
            out += [f"result = {call}(", *args, ")", f"print({whole})"]
    else:
        out.append(f"# {wire.method} {wire.url}: no SDK call for this endpoint")
    return "\n".join(out) + "\n"
