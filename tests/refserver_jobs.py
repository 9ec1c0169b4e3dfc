"""The reference server's resource APIs: `/v1/files`, `/v1/batches` and `/v1/fine_tuning/jobs`.

Objects, pagination (`limit`, `after`, `has_more`), multipart uploads and error bodies follow OpenAI's
wire format. The jobs move through their real states, one step each time the client retrieves them (a
poll), so a test decides how far they get and nothing depends on wall-clock time:

- batch: validating → in_progress (``requests_per_step`` requests per poll, run through the reference
  chat handler) → finalizing → completed, with ``request_counts`` and output/error files; or failed at
  validation (a line the server cannot take: bad JSON, another url, an unknown model) with ``errors``;
  or expired (``batch_outcome = "expired"``: after ``expire_after`` requests); cancel → cancelling → cancelled.
- fine-tuning job: validating_files → queued → running (one `metrics` event per poll, checkpoints) →
  succeeded (a `fine_tuned_model`) or failed (``ft_outcome = "failed"``, with ``error``); cancel → cancelled.

Switches (set them on ``server.jobs``): ``auto_advance`` (False: nothing moves until ``advance(id)``),
``requests_per_step``, ``fail_custom_ids`` (these requests fail with a 500 in the error file),
``batch_outcome``, ``expire_after``, ``shuffle`` (results in another order than the input, as the real
API may), ``ft_outcome``, ``ft_steps``, ``ft_fail_message``, ``cut_downloads`` (file content cut halfway). Transport faults (429 with Retry-After, 500)
come from the server's Scenario queue, which every request pops, these included.

This module must not import anything from ``llmcli``.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
WINDOWS = ("24h",)
FINAL_BATCH = ("completed", "failed", "expired", "cancelled")
FINAL_JOB = ("succeeded", "failed", "cancelled")


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False), status_code=status, media_type="application/json")


def _page(items: list[dict], query: dict[str, list[str]], *, default_limit: int = 20) -> dict:
    """OpenAI's cursor page: `items` newest first; `after` = the last id of the previous page."""
    try:
        limit = int(query.get("limit", [default_limit])[0])
    except ValueError:
        limit = default_limit
    limit = max(1, min(limit, 10000))
    after = query.get("after", [None])[0]
    start = 0
    if after:
        for i, item in enumerate(items):
            if item["id"] == after:
                start = i + 1
                break
    chosen = items[start : start + limit]
    return {
        "object": "list",
        "data": chosen,
        "first_id": chosen[0]["id"] if chosen else None,
        "last_id": chosen[-1]["id"] if chosen else None,
        "has_more": start + limit < len(items),
    }


class JobsApi:
    def __init__(self, server: Any):
        self.server = server
        self._lock = threading.RLock()
        self.reset()

    # ---- switches and state ---------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.files: dict[str, dict] = {}
            self.contents: dict[str, bytes] = {}
            self.batches: dict[str, dict] = {}
            self._batch_work: dict[str, dict] = {}
            self.jobs: dict[str, dict] = {}
            self.events: dict[str, list[dict]] = {}
            self.checkpoints: dict[str, list[dict]] = {}
            self._job_step: dict[str, int] = {}
            self.auto_advance = True
            self.requests_per_step = 1
            self.fail_custom_ids: set[str] = set()
            self.batch_outcome = "completed"
            self.expire_after = 1
            self.shuffle = True
            self.ft_outcome = "succeeded"
            self.ft_steps = 4
            self.cut_downloads = False
            self.ft_fail_message = (
                "The job failed due to an invalid training file: line 3 has no assistant message."
            )
            self.polls: dict[str, int] = {}  # object id → how many times it was retrieved

    def advance(self, object_id: str, steps: int = 1) -> dict:
        """Move a batch or a job on by `steps` steps (whatever auto_advance says); its new state."""
        with self._lock:
            for _ in range(steps):
                if object_id in self.batches:
                    self._step_batch(object_id)
                elif object_id in self.jobs:
                    self._step_job(object_id)
                else:
                    raise KeyError(object_id)
            return dict(self.batches.get(object_id) or self.jobs[object_id])

    def add_file(self, content: bytes, *, purpose: str, filename: str = "data.jsonl") -> dict:
        with self._lock:
            fid = _id("file-")
            obj = {
                "id": fid,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": purpose,
                "status": "processed",
                "expires_at": None,
                "status_details": None,
            }
            self.files[fid] = obj
            self.contents[fid] = content
            return obj

    # ---- dispatch --------------------------------------------------------------------------------
    async def handle(
        self, request: Request, method: str, path: str, raw: bytes, body: Any
    ) -> Response | None:
        query = parse_qs(request.url.query)
        routes = (
            (r"/files", {"GET": self._list_files, "POST": self._upload}),
            (r"/files/([^/]+)", {"GET": self._get_file, "DELETE": self._delete_file}),
            (r"/files/([^/]+)/content", {"GET": self._file_content}),
            (r"/batches", {"GET": self._list_batches, "POST": self._create_batch}),
            (r"/batches/([^/]+)", {"GET": self._get_batch}),
            (r"/batches/([^/]+)/cancel", {"POST": self._cancel_batch}),
            (r"/fine_tuning/jobs", {"GET": self._list_jobs, "POST": self._create_job}),
            (r"/fine_tuning/jobs/([^/]+)", {"GET": self._get_job}),
            (r"/fine_tuning/jobs/([^/]+)/cancel", {"POST": self._cancel_job}),
            (r"/fine_tuning/jobs/([^/]+)/events", {"GET": self._list_events}),
            (r"/fine_tuning/jobs/([^/]+)/checkpoints", {"GET": self._list_checkpoints}),
        )
        for pattern, methods in routes:
            m = re.fullmatch(r"(?:/v1)?" + pattern, path)
            if m is None:
                continue
            fn = methods.get(method)
            if fn is None:
                return _error(405, f"Method not allowed ({method} {path})")
            with self._lock:
                return fn(*m.groups(), query=query, raw=raw, body=body, headers=request.headers)
        return None

    # ---- files -----------------------------------------------------------------------------------
    def _upload(self, *, raw: bytes, headers: Any, **_: Any) -> Response:
        ctype = headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return _error(400, "Expected a multipart/form-data upload with 'file' and 'purpose'.")
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        fields: dict[str, Any] = {}
        filename = "upload"
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if name == "file":
                filename = part.get_filename() or filename
                fields["file"] = data
            elif name:
                fields[name] = data.decode("utf-8", "replace")
        if "file" not in fields:
            return _error(400, "Missing required parameter: 'file'.", param="file")
        purpose = fields.get("purpose")
        if purpose not in ("batch", "fine-tune", "assistants", "vision", "user_data", "evals"):
            return _error(400, f"'{purpose}' is not one of the supported purposes.", param="purpose")
        return _json(self.add_file(fields["file"], purpose=purpose, filename=filename))

    def _list_files(self, *, query: dict, **_: Any) -> Response:
        items = list(reversed(self.files.values()))
        purpose = query.get("purpose", [None])[0]
        if purpose:
            items = [f for f in items if f["purpose"] == purpose]
        return _json(_page(items, query, default_limit=10000))

    def _missing_file(self, fid: str) -> Response:
        return _error(404, f"No such File object: {fid}", param="id")

    def _get_file(self, fid: str, **_: Any) -> Response:
        f = self.files.get(fid)
        return _json(f) if f else self._missing_file(fid)

    def _delete_file(self, fid: str, **_: Any) -> Response:
        if fid not in self.files:
            return self._missing_file(fid)
        del self.files[fid]
        self.contents.pop(fid, None)
        return _json({"id": fid, "object": "file", "deleted": True})

    def _file_content(self, fid: str, **_: Any) -> Response:
        if fid not in self.files:
            return self._missing_file(fid)
        data = self.contents[fid]
        if self.cut_downloads:
            from refserver import _AbortConnection

            async def cut():
                yield data[: len(data) // 2]
                raise _AbortConnection("cut_downloads")

            return StreamingResponse(
                cut(), media_type="application/octet-stream", headers={"content-length": str(len(data))}
            )
        return Response(data, media_type="application/octet-stream")

    # ---- batches ---------------------------------------------------------------------------------
    def _create_batch(self, *, body: Any, **_: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.")
        fid, endpoint, window = body.get("input_file_id"), body.get("endpoint"), body.get("completion_window")
        if endpoint not in BATCH_ENDPOINTS:
            return _error(400, f"Invalid value for 'endpoint': {endpoint!r}.", param="endpoint")
        if window not in WINDOWS:
            return _error(
                400,
                f"Invalid value for 'completion_window': {window!r}. Supported values are: '24h'.",
                param="completion_window",
            )
        f = self.files.get(fid)
        if f is None:
            return _error(400, f"Invalid 'input_file_id': '{fid}'. No such file.", param="input_file_id")
        if f["purpose"] != "batch":
            return _error(
                400,
                f"File {fid} has purpose {f['purpose']!r}; a batch needs purpose 'batch'.",
                param="input_file_id",
            )
        now = int(time.time())
        bid = _id("batch_")
        batch = {
            "id": bid,
            "object": "batch",
            "endpoint": endpoint,
            "errors": None,
            "input_file_id": fid,
            "completion_window": window,
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        self.batches[bid] = batch
        self._batch_work[bid] = {"pending": [], "output": [], "errors": []}
        return _json(batch)

    def _list_batches(self, *, query: dict, **_: Any) -> Response:
        return _json(_page(list(reversed(self.batches.values())), query))

    def _get_batch(self, bid: str, **_: Any) -> Response:
        if bid not in self.batches:
            return _error(404, f"No batch found with id '{bid}'.")
        self.polls[bid] = self.polls.get(bid, 0) + 1
        if self.auto_advance:
            self._step_batch(bid)
        return _json(self.batches[bid])

    def _cancel_batch(self, bid: str, **_: Any) -> Response:
        batch = self.batches.get(bid)
        if batch is None:
            return _error(404, f"No batch found with id '{bid}'.")
        if batch["status"] in FINAL_BATCH:
            return _error(409, f"Cannot cancel a batch with status '{batch['status']}'.")
        batch["status"] = "cancelling"
        batch["cancelling_at"] = int(time.time())
        return _json(batch)

    def _validate_batch(self, batch: dict) -> list[dict]:
        """The server's own validation of the input file: errors with line numbers, like the real API."""
        errors: list[dict] = []
        models = {m["id"] for m in self.server.models}
        requests = []
        for n, line in enumerate(
            self.contents[batch["input_file_id"]].decode("utf-8", "replace").splitlines(), 1
        ):
            try:
                req = json.loads(line)
            except ValueError:
                errors.append(
                    {
                        "code": "invalid_json_line",
                        "message": "This line is not parseable as valid JSON.",
                        "param": None,
                        "line": n,
                    }
                )
                continue
            if not isinstance(req, dict) or req.get("url") != batch["endpoint"]:
                errors.append(
                    {
                        "code": "mismatched_endpoint",
                        "message": "The provided endpoint does not match the batch's endpoint.",
                        "param": "url",
                        "line": n,
                    }
                )
                continue
            model = (req.get("body") or {}).get("model")
            if model not in models:
                errors.append(
                    {
                        "code": "model_not_found",
                        "message": f"The provided model '{model}' is not supported by the Batch API.",
                        "param": "body.model",
                        "line": n,
                    }
                )
                continue
            requests.append(req)
        if not errors:
            if self.shuffle:
                random.Random(len(requests)).shuffle(requests)
            self._batch_work[batch["id"]]["pending"] = requests
        return errors

    def _answer(self, endpoint: str, req: dict) -> tuple[int, dict]:
        from refserver import Scenario, _Completion  # the reference chat handler (loaded by now)

        body = req.get("body") or {}
        cid = req.get("custom_id")
        if cid in self.fail_custom_ids:
            return 500, {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        if endpoint == "/v1/chat/completions":
            if not isinstance(body.get("messages"), list):
                return 400, {
                    "error": {
                        "message": "Missing required parameter: 'messages'.",
                        "type": "invalid_request_error",
                        "param": "messages",
                        "code": None,
                    }
                }
            return 200, _Completion(Scenario(text=f"Answer to {cid}."), body).message_body()
        if endpoint == "/v1/completions":
            return 200, {
                "id": _id("cmpl-"),
                "object": "text_completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {"index": 0, "text": f"Answer to {cid}.", "finish_reason": "stop", "logprobs": None}
                ],
            }
        inputs = body.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        return 200, {
            "object": "list",
            "model": body.get("model"),
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(n)],
            "usage": {"prompt_tokens": n, "total_tokens": n},
        }

    def _result_line(self, req: dict, status: int, body: dict | None, error: dict | None = None) -> dict:
        response = None if body is None else {"status_code": status, "request_id": _id("req_"), "body": body}
        return {
            "id": _id("batch_req_"),
            "custom_id": req.get("custom_id"),
            "response": response,
            "error": error,
        }

    def _write_results(self, batch: dict) -> None:
        work = self._batch_work[batch["id"]]
        for key, name in (("output", "output_file_id"), ("errors", "error_file_id")):
            if work[key]:
                data = "".join(json.dumps(x) + "\n" for x in work[key]).encode()
                batch[name] = self.add_file(
                    data, purpose="batch_output", filename=f"{batch['id']}_{key}.jsonl"
                )["id"]

    def _step_batch(self, bid: str) -> None:
        batch = self.batches[bid]
        work = self._batch_work[bid]
        now = int(time.time())
        status = batch["status"]
        if status == "validating":
            errors = self._validate_batch(batch)
            if errors:
                batch.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
                return
            batch.update(status="in_progress", in_progress_at=now)
            batch["request_counts"]["total"] = len(work["pending"])
        elif status == "in_progress":
            counts = batch["request_counts"]
            for _ in range(self.requests_per_step):
                if not work["pending"]:
                    break
                if (
                    self.batch_outcome == "expired"
                    and counts["completed"] + counts["failed"] >= self.expire_after
                ):
                    break
                req = work["pending"].pop(0)
                code, body = self._answer(batch["endpoint"], req)
                if code == 200:
                    work["output"].append(self._result_line(req, code, body))
                    counts["completed"] += 1
                else:
                    work["errors"].append(self._result_line(req, code, body))
                    counts["failed"] += 1
            done = counts["completed"] + counts["failed"]
            if self.batch_outcome == "expired" and done >= self.expire_after and work["pending"]:
                for req in work["pending"]:
                    err = {
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion window expired.",
                    }
                    work["errors"].append(self._result_line(req, 0, None, err))
                work["pending"] = []
                self._write_results(batch)
                batch.update(status="expired", expired_at=now)
            elif not work["pending"]:
                batch.update(status="finalizing", finalizing_at=now)
        elif status == "finalizing":
            self._write_results(batch)
            batch.update(status="completed", completed_at=now)
        elif status == "cancelling":
            work["pending"] = []
            self._write_results(batch)
            batch.update(status="cancelled", cancelled_at=now)

    # ---- fine-tuning -----------------------------------------------------------------------------
    def _event(
        self, jid: str, message: str, *, level: str = "info", type_: str = "message", data: dict | None = None
    ) -> None:
        self.events[jid].append(
            {
                "object": "fine_tuning.job.event",
                "id": _id("ftevent-"),
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data or {},
                "type": type_,
            }
        )

    def _create_job(self, *, body: Any, **_: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.")
        model = body.get("model")
        if model not in {m["id"] for m in self.server.models}:
            return _error(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        for key in ("training_file", "validation_file"):
            fid = body.get(key)
            if fid is None and key == "validation_file":
                continue
            f = self.files.get(fid)
            if f is None:
                return _error(400, f"invalid {key}: {fid}", param=key, code="invalid_file")
            if f["purpose"] != "fine-tune":
                return _error(400, f"File {fid} has purpose {f['purpose']!r}, not 'fine-tune'.", param=key)
        method = body.get("method") or {"type": "supervised", "supervised": {}}
        kind = method.get("type", "supervised")
        hyper = dict((method.get(kind) or {}).get("hyperparameters") or body.get("hyperparameters") or {})
        resolved = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
        if kind == "dpo":
            resolved["beta"] = 0.1
        for k, v in hyper.items():
            if v != "auto":
                resolved[k] = v
        jid = _id("ftjob-")
        job = {
            "object": "fine_tuning.job",
            "id": jid,
            "model": model,
            "created_at": int(time.time()),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-llmcli-tests",
            "result_files": [],
            "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": {k: v for k, v in resolved.items() if k != "beta"},
            "method": {"type": kind, kind: {"hyperparameters": resolved}},
            "trained_tokens": None,
            "error": None,
            "seed": body.get("seed", 42),
            "estimated_finish": None,
            "integrations": None,
            "metadata": body.get("metadata"),
            "user_provided_suffix": body.get("suffix"),
        }
        self.jobs[jid] = job
        self.events[jid] = []
        self.checkpoints[jid] = []
        self._job_step[jid] = 0
        self._event(jid, f"Validating training file: {body['training_file']}")
        return _json(job)

    def _list_jobs(self, *, query: dict, **_: Any) -> Response:
        return _json(_page(list(reversed(self.jobs.values())), query))

    def _missing_job(self, jid: str) -> Response:
        return _error(
            404, f"Could not find fine-tune: {jid}", param="fine_tune_id", code="fine_tune_not_found"
        )

    def _get_job(self, jid: str, **_: Any) -> Response:
        if jid not in self.jobs:
            return self._missing_job(jid)
        self.polls[jid] = self.polls.get(jid, 0) + 1
        if self.auto_advance:
            self._step_job(jid)
        return _json(self.jobs[jid])

    def _cancel_job(self, jid: str, **_: Any) -> Response:
        job = self.jobs.get(jid)
        if job is None:
            return self._missing_job(jid)
        if job["status"] in FINAL_JOB:
            return _error(400, f"Job has already {job['status']}.")
        job.update(status="cancelled", finished_at=int(time.time()))
        self._event(jid, "Job cancelled")
        return _json(job)

    def _list_events(self, jid: str, *, query: dict, **_: Any) -> Response:
        if jid not in self.jobs:
            return self._missing_job(jid)
        return _json(_page(list(reversed(self.events[jid])), query))

    def _list_checkpoints(self, jid: str, *, query: dict, **_: Any) -> Response:
        if jid not in self.jobs:
            return self._missing_job(jid)
        return _json(_page(list(reversed(self.checkpoints[jid])), query, default_limit=10))

    def _step_job(self, jid: str) -> None:
        job = self.jobs[jid]
        status = job["status"]
        now = int(time.time())
        if status == "validating_files":
            job["status"] = "queued"
            self._event(jid, "Files validated, moving job to queued state")
        elif status == "queued":
            job["status"] = "running"
            self._event(jid, "Fine-tuning job started")
        elif status == "running":
            step = self._job_step[jid] + 1
            self._job_step[jid] = step
            total = self.ft_steps
            if self.ft_outcome == "failed" and step > total // 2:
                job.update(
                    status="failed",
                    finished_at=now,
                    error={
                        "code": "invalid_training_file",
                        "message": self.ft_fail_message,
                        "param": "training_file",
                    },
                )
                self._event(jid, self.ft_fail_message, level="error")
                return
            train = round(2.0 / step, 4)
            data: dict[str, Any] = {
                "step": step,
                "train_loss": train,
                "train_mean_token_accuracy": round(1 - train / 4, 4),
                "total_steps": total,
            }
            if step % 2 == 0:
                data["valid_loss"] = round(train * 1.1, 4)
                data["valid_mean_token_accuracy"] = round(1 - train / 3, 4)
            loss = f", validation loss={data['valid_loss']:.4f}" if "valid_loss" in data else ""
            self._event(
                jid, f"Step {step}/{total}: training loss={train:.4f}{loss}", type_="metrics", data=data
            )
            if step % 2 == 0 or step == total:
                suffix = job.get("user_provided_suffix") or ""
                self.checkpoints[jid].append(
                    {
                        "object": "fine_tuning.job.checkpoint",
                        "id": _id("ftckpt_"),
                        "created_at": now,
                        "fine_tuned_model_checkpoint": f"ft:{job['model']}:llmcli-tests:{suffix}:{jid[-8:]}:ckpt-step-{step}",
                        "step_number": step,
                        "metrics": {k: v for k, v in data.items() if k != "total_steps"},
                        "fine_tuning_job_id": jid,
                    }
                )
            if step >= total:
                suffix = job.get("user_provided_suffix") or ""
                model = f"ft:{job['model']}:llmcli-tests:{suffix}:{jid[-8:]}"
                job.update(
                    status="succeeded", finished_at=now, fine_tuned_model=model, trained_tokens=1000 * total
                )
                self._event(jid, f"New fine-tuned model created: {model}")
                self._event(jid, "The job has successfully completed")
