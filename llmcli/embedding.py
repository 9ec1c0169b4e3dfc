"""Writing embeddings as they arrive, batch by batch, in input order: JSON, JSONL, CSV or .npy.

JSONL and CSV rows are written (and flushed) as each batch comes back, so a failure later leaves
whole lines behind; JSON and .npy are one document, written at the end. numpy is optional (the
`npy` extra) and imported only for `--format npy`.
"""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO

from .core.types import Embeddings
from .errors import UsageError
from .render.sink import write_out


class Output:
    def __init__(self, fmt: str, out: BinaryIO):
        self.fmt = fmt
        self.out = out
        self.index = 0
        self.rows: list[dict[str, Any]] = []
        self.vectors: list[list[float]] = []
        self.model: str | None = None
        self.prompt_tokens = 0
        self.total_tokens = 0
        self.usage_seen = False

    @staticmethod
    def need_numpy() -> Any:
        try:
            import numpy
        except ImportError:
            raise UsageError(
                "--format npy needs numpy, which is not installed",
                hint="pip install 'llmcli[npy]' (or pip install numpy), or use --format json|jsonl|csv",
            ) from None
        return numpy

    def add(self, texts: list[str], result: Embeddings) -> None:
        self.model = self.model or result.model
        if result.usage is not None:
            self.usage_seen = True
            self.prompt_tokens += result.usage.prompt_tokens or 0
            self.total_tokens += result.usage.total_tokens or 0
        lines: list[str] = []
        for text, vector in zip(texts, result.vectors, strict=True):
            if self.fmt == "jsonl":
                row = {"index": self.index, "text": text, "embedding": vector}
                lines.append(json.dumps(row, ensure_ascii=False) + "\n")
            elif self.fmt == "csv":
                lines.append(",".join(repr(x) for x in vector) + "\n")
            elif self.fmt == "json":
                self.rows.append({"index": self.index, "text": text, "embedding": vector})
            else:
                self.vectors.append(vector)
            self.index += 1
        if lines:
            write_out(self.out, "".join(lines).encode("utf-8"))

    def finish(self) -> None:
        if self.fmt == "json":
            usage = (
                {"prompt_tokens": self.prompt_tokens, "total_tokens": self.total_tokens}
                if self.usage_seen
                else None
            )
            doc = {"model": self.model, "data": self.rows, "usage": usage}
            write_out(self.out, (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8"))
        elif self.fmt == "npy":
            numpy = self.need_numpy()
            sizes = {len(v) for v in self.vectors}
            if len(sizes) > 1:
                raise UsageError(
                    f"the vectors have different lengths ({', '.join(map(str, sorted(sizes)))}): no array can hold them",
                    hint="use --format jsonl",
                )
            buffer = io.BytesIO()
            numpy.save(buffer, numpy.asarray(self.vectors, dtype=numpy.float32))
            write_out(self.out, buffer.getvalue())
