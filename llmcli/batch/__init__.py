"""Batch JSONL files: reading as a stream, validation with line numbers, prompt files, input order.

Shared by the provider's Batch API commands (`batch submit|results`) and the local runner (`batch run`).
Standard library only.
"""
