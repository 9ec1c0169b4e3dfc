"""Baseline streaming client on the openai SDK: `chat.completions.create(stream=True)`, one write+flush
per content delta. The bare minimum an SDK user writes; `llmcli ask --transport sdk` is compared to it.

Sends the same body llmcli sends (stream + include_usage). usage: python stream_sdk.py BASE_URL MODEL PROMPT
"""

import sys

import openai  # noqa: TID253  (a baseline: the import is what it measures)

base_url, model, prompt = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
out = sys.stdout.buffer
stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": prompt}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    for choice in chunk.choices:
        text = choice.delta.content
        if text:
            out.write(text.encode("utf-8"))
            out.flush()
