"""Files, batches and fine-tuning jobs through the openai SDK (it models pagination, multipart uploads and
the object types), with llmcli's client construction, retry policy and error mapping.

The SDK client is the one `transport/sdk.py` builds (retries off, llmcli's timeout, no Authorization
header without a key); every call goes through `sdk_call`, so a 401 here exits 3 as it does for `ask`,
a 429 after retries 5, a 5xx 6, a 400/404/422 4. The key goes only to the base URL's origin: the SDK
builds every URL from the base URL, and its HTTP client drops credentials on a redirect elsewhere.

A 404 (or 405) is made specific: on a collection (`GET /batches`, `POST /files`) it means the server does
not offer the API at all (llama.cpp, vLLM, Ollama); on one object it may also mean "no such id", so the
collection is asked once to tell the two apart.

Objects come back as plain dicts of what the server sent (`to_dict`), ready for `--format json`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx2
import openai

from ..errors import RequestRejected, TransportError
from ..transport.base import TransportConfig
from ..transport.sdk import openai_client, sdk_call

T = TypeVar("T")

# What each API is called in messages, the command that lists its objects, and who offers it.
APIS: dict[str, dict[str, str]] = {
    "files": {
        "name": "the Files API",
        "noun": "file",
        "list": "llmcli files list",
        "doc": "docs/files.md",
    },
    "batches": {
        "name": "the Batch API",
        "noun": "batch",
        "list": "llmcli batch list",
        "doc": "docs/batch.md",
    },
    "fine_tuning": {
        "name": "the fine-tuning API",
        "noun": "fine-tuning job",
        "list": "llmcli finetune list",
        "doc": "docs/finetune.md",
    },
}
NOT_OFFERED = "OpenAI and Azure OpenAI offer it; llama.cpp, vLLM and Ollama do not"


def to_dict(obj: Any) -> dict[str, Any]:
    """An SDK object as the JSON the server sent (fields it did not send stay out)."""
    if isinstance(obj, dict):
        return obj
    return obj.to_dict(mode="json", exclude_unset=True)


class ResourceClient:
    def __init__(self, config: TransportConfig):
        self.config = config
        self.host = config.host
        self._client, self._per_request = openai_client(config)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ResourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _kw(self, *, create: bool = False) -> dict[str, Any]:
        """Per-call keyword arguments. A create carries one Idempotency-Key across llmcli's retries, so a
        provider that honours it never makes two objects of one command."""
        kw = dict(self._per_request)
        if create:
            headers = dict(kw.get("extra_headers") or {})
            headers["Idempotency-Key"] = f"llmcli-{uuid.uuid4()}"
            kw["extra_headers"] = headers
        return kw

    def _call(self, api: str, fn: Callable[[], T], *, object_id: str | None = None) -> T:
        try:
            return sdk_call(self.config, fn)
        except RequestRejected as exc:
            if exc.status not in (404, 405):
                raise
            raise self._explain_404(api, exc, object_id) from None

    def _explain_404(self, api: str, exc: RequestRejected, object_id: str | None) -> TransportError:
        """Tell "no such object" (or another 404 of a server that has the API, e.g. an unknown model on a
        create) from "this server has no such API": one look at the API's collection decides."""
        info = APIS[api]
        said = f": {exc.server_message}" if exc.server_message else ""
        if self._offers(api):
            if object_id is None:
                return exc
            return RequestRejected(
                f"{self.host} has no {info['noun']} {object_id!r} (HTTP {exc.status}){said}",
                host=self.host,
                status=exc.status,
                server_message=exc.server_message,
                hint=f"check the id: `{info['list']}`",
            )
        return RequestRejected(
            f"{self.host} does not offer {info['name']} (HTTP {exc.status} for its endpoint){said}",
            host=self.host,
            status=exc.status,
            server_message=exc.server_message,
            hint=f"{NOT_OFFERED}; check the base URL (`llmcli config show`) and see {info['doc']}",
        )

    def _offers(self, api: str) -> bool:
        """Does the server answer the API's collection? (One request, no retries; any error means no.)"""
        lister = {
            "files": self._client.files.list,
            "batches": self._client.batches.list,
            "fine_tuning": self._client.fine_tuning.jobs.list,
        }[api]
        try:
            lister(limit=1, **self._kw())
        except (openai.APIError, httpx2.HTTPError):
            return False
        return True

    def _collect(
        self, api: str, first: Callable[[], Any], limit: int | None, *, object_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Items of a cursor-paginated list, page after page (each page under the retry policy)."""
        page = self._call(api, first, object_id=object_id)
        out: list[dict[str, Any]] = []
        while True:
            for item in page.data:
                out.append(to_dict(item))
                if limit is not None and len(out) >= limit:
                    return out
            if not page.data or not page.has_next_page():
                return out
            page = self._call(api, page.get_next_page, object_id=object_id)

    # --- files -----------------------------------------------------------------------------------

    def upload(
        self, path: Path, purpose: str, *, filename: str | None = None, api: str = "files"
    ) -> dict[str, Any]:
        """Upload a local file (streamed from disk as multipart, never read whole into memory).

        `api` names what the upload is for in a 404's message: a server without the Files API offers
        no batches or fine-tuning either, and the user asked for those."""
        with open(path, "rb") as fh:
            name = filename or path.name

            def send() -> Any:
                fh.seek(0)  # a retry sends the file from its start again
                return self._client.files.create(
                    file=(name, fh, "application/jsonl"), purpose=purpose, **self._kw(create=True)
                )

            return to_dict(self._call(api, send))

    def list_files(self, *, purpose: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        extra: dict[str, Any] = {"purpose": purpose} if purpose else {}
        page_size = min(limit, 10000) if limit else 100
        return self._collect(
            "files", lambda: self._client.files.list(limit=page_size, **extra, **self._kw()), limit
        )

    def file(self, file_id: str) -> dict[str, Any]:
        return to_dict(
            self._call("files", lambda: self._client.files.retrieve(file_id, **self._kw()), object_id=file_id)
        )

    def delete_file(self, file_id: str) -> dict[str, Any]:
        return to_dict(
            self._call("files", lambda: self._client.files.delete(file_id, **self._kw()), object_id=file_id)
        )

    def download(self, file_id: str, out: BinaryIO) -> int:
        """Stream a file's content into `out`; the byte count. A connection lost midway is an error (6)."""

        def start() -> tuple[Any, Any]:
            manager = self._client.files.with_streaming_response.content(file_id, **self._kw())
            return manager, manager.__enter__()

        manager, response = self._call("files", start, object_id=file_id)
        total = 0
        try:
            for chunk in response.iter_bytes(1 << 16):
                out.write(chunk)
                total += len(chunk)
        except (openai.APIError, httpx2.HTTPError) as exc:
            from ..transport.status import network_error

            raise network_error(self.host, exc) from None
        finally:
            manager.__exit__(None, None, None)
        return total

    # --- batches ---------------------------------------------------------------------------------

    def create_batch(
        self, input_file_id: str, endpoint: str, window: str, metadata: dict[str, str] | None
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
        return to_dict(
            self._call(
                "batches",
                lambda: self._client.batches.create(
                    input_file_id=input_file_id,
                    endpoint=endpoint,  # type: ignore[arg-type]
                    completion_window=window,  # type: ignore[arg-type]
                    **extra,
                    **self._kw(create=True),
                ),
            )
        )

    def batch(self, batch_id: str) -> dict[str, Any]:
        return to_dict(
            self._call(
                "batches", lambda: self._client.batches.retrieve(batch_id, **self._kw()), object_id=batch_id
            )
        )

    def list_batches(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        page_size = min(limit, 100) if limit else 100
        return self._collect(
            "batches", lambda: self._client.batches.list(limit=page_size, **self._kw()), limit
        )

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        return to_dict(
            self._call(
                "batches", lambda: self._client.batches.cancel(batch_id, **self._kw()), object_id=batch_id
            )
        )

    # --- fine-tuning -----------------------------------------------------------------------------

    def create_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return to_dict(
            self._call(
                "fine_tuning",
                lambda: self._client.fine_tuning.jobs.create(**params, **self._kw(create=True)),
            )
        )

    def job(self, job_id: str) -> dict[str, Any]:
        return to_dict(
            self._call(
                "fine_tuning",
                lambda: self._client.fine_tuning.jobs.retrieve(job_id, **self._kw()),
                object_id=job_id,
            )
        )

    def list_jobs(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        page_size = min(limit, 100) if limit else 100
        return self._collect(
            "fine_tuning", lambda: self._client.fine_tuning.jobs.list(limit=page_size, **self._kw()), limit
        )

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return to_dict(
            self._call(
                "fine_tuning",
                lambda: self._client.fine_tuning.jobs.cancel(job_id, **self._kw()),
                object_id=job_id,
            )
        )

    def events_page(self, job_id: str, *, after: str | None = None, limit: int = 100) -> tuple[list, bool]:
        """One page of a job's events, newest first (the API's order); and whether older ones remain."""
        extra: dict[str, Any] = {"after": after} if after else {}
        page = self._call(
            "fine_tuning",
            lambda: self._client.fine_tuning.jobs.list_events(job_id, limit=limit, **extra, **self._kw()),
            object_id=job_id,
        )
        return [to_dict(e) for e in page.data], bool(getattr(page, "has_more", False))

    def events(self, job_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """A job's events, oldest first (the newest `limit` when given)."""
        return list(self.new_events(job_id, seen_ids=set(), limit=limit))

    def new_events(
        self, job_id: str, *, seen_ids: set[str], limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Events not in `seen_ids`, oldest first. Pages go from the newest back until a seen event."""
        fresh: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page, more = self.events_page(
                job_id, after=after, limit=100 if limit is None else min(limit, 100)
            )
            stop = False
            for event in page:
                if event.get("id") in seen_ids:
                    stop = True
                    break
                fresh.append(event)
                if limit is not None and len(fresh) >= limit:
                    stop = True
                    break
            if stop or not more or not page:
                break
            after = page[-1].get("id")
        fresh.reverse()
        yield from fresh

    def checkpoints(self, job_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """A job's checkpoints, by step (the API lists the newest first)."""
        page_size = min(limit, 100) if limit else 100
        found = self._collect(
            "fine_tuning",
            lambda: self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=page_size, **self._kw()),
            limit,
            object_id=job_id,
        )
        return sorted(found, key=lambda c: c.get("step_number") or 0)
