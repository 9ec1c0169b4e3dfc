"""`llmcli bench`: load shapes and datasets in, figures out.

`parse` (durations, SLOs, lists), `datasets` (synthetic words, JSONL, ShareGPT), `metrics` (records →
figures, vLLM's names), `report` (JSON, CSV, the request log), `runner` (probe, stages, signals, live
progress). Drawing is render/'s; the HTTP engine is load/'s.
"""
