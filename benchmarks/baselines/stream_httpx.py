"""Baseline streaming client: httpx + hand-parsed `data:` lines, one write+flush per content chunk.

Sends the same body llmcli sends (stream + include_usage). usage: python stream_httpx.py BASE_URL MODEL PROMPT
"""

import json
import sys

import httpx  # noqa: TID253  (a baseline: the import is what it measures)

base_url, model, prompt = sys.argv[1:4]
body = {
    "model": model,
    "messages": [{"role": "user", "content": prompt}],
    "stream": True,
    "stream_options": {"include_usage": True},
}
out = sys.stdout.buffer
with httpx.Client(timeout=600) as client:
    with client.stream("POST", base_url.rstrip("/") + "/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            for choice in json.loads(data).get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    out.write(text.encode("utf-8"))
                    out.flush()
