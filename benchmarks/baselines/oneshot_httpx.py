"""Baseline one-shot client: POST the same non-streaming request llmcli sends, print the content.

usage: python oneshot_httpx.py BASE_URL MODEL PROMPT
"""

import sys

import httpx  # noqa: TID253  (a baseline: the import is what it measures)

base_url, model, prompt = sys.argv[1:4]
body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": False}
response = httpx.post(base_url.rstrip("/") + "/chat/completions", json=body, timeout=600)
response.raise_for_status()
sys.stdout.buffer.write(response.json()["choices"][0]["message"]["content"].encode("utf-8"))
sys.stdout.buffer.flush()
