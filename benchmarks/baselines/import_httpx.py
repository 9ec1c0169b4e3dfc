"""Baseline for startup: the least any Python HTTP client must pay (interpreter + import httpx)."""

import httpx  # noqa: F401, TID253
