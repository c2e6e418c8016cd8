"""A loopback fake of OpenAI's Files + Batch APIs, speaking their real wire formats.

`POST /v1/files` (multipart/form-data, `purpose=batch`), `GET /v1/files/{id}/content`,
`POST /v1/batches`, `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel` and
`GET /v1/batches` (newest first, `after`/`limit`, `has_more`, as `SyncCursorPage` expects).
A batch's succeeded lines go to its output file, errored/invalid/expired/cancelled lines to
its error file — each in reverse submission order. A batch with an `expired` item ends as
`expired`; a cancelled one as `cancelled`. Scripting knobs: see `batches_base.py`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.fakes.batches_base import ANSWER, BatchesServer, FakeBatch, Item, Response

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_ERROR_LINES = {
    "errored": (500, "server_error", "The server had an error processing your request."),
    "invalid_request": (400, "invalid_request_error", "Invalid value for 'response_format'."),
}


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": {"message": message, "type": "invalid_request_error"}})


def multipart_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (the stdlib's `cgi` is gone)."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError(f"not multipart: {content_type}")
    fields: dict[str, bytes] = {}
    for part in body.split(b"--" + match.group(1).encode()):
        head, sep, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if sep and name is not None:
            fields[name.group(1).decode()] = value.removesuffix(b"\r\n")
    return fields


class OpenAIBatchesServer(BatchesServer):
    def reset(self) -> None:
        super().reset()
        self.files: dict[str, dict[str, Any]] = {}  # id → {"purpose", "content"}
        self.uploads: list[dict[str, str]] = []  # the multipart fields other than the file
        self.written: dict[str, tuple[str | None, str | None]] = {}  # batch → (output, error)
        self.inputs: dict[str, str] = {}  # batch → its input file

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Response:
        if path == "/v1/files" and method == "POST":
            return self._upload(headers.get("content-type", ""), body)
        if path.startswith("/v1/files/") and method == "DELETE":
            file_id = path.split("/")[3]
            if self.files.pop(file_id, None) is None:
                return _error(404, "No such file")
            return Response(200, {"id": file_id, "object": "file", "deleted": True})
        if path.startswith("/v1/files/") and path.endswith("/content"):
            found = self.files.get(path.split("/")[3])
            if found is None:
                return _error(404, "No such file")
            return Response(200, found["content"], "application/octet-stream")
        if path == "/v1/batches" and method == "POST":
            return self._create(json.loads(body))
        if path == "/v1/batches" and method == "GET":
            return self._list(query)
        rest = path.removeprefix("/v1/batches/").split("/")
        batch = self.batches.get(rest[0])
        if not path.startswith("/v1/batches/") or batch is None or self.early_404(batch):
            return _error(404, f"No batch found with id '{rest[0]}'.")
        if len(rest) == 1 and method == "GET":
            self.poll(batch)
            return Response(200, self.wire_batch(batch))
        if rest[1:] == ["cancel"] and method == "POST":
            self.cancel(batch)
            return Response(200, self.wire_batch(batch))
        return _error(404, f"no route {method} {path}")

    # --- endpoints ------------------------------------------------------------------------------

    def _upload(self, content_type: str, body: bytes) -> Response:
        fields = multipart_fields(content_type, body)
        file_id = self.new_id("file")
        content = fields["file"]
        self.files[file_id] = {"purpose": fields["purpose"].decode(), "content": content}
        self.uploads.append({k: v.decode() for k, v in fields.items() if k != "file"})
        return Response(200, self._file_object(file_id, "batch.jsonl", content, "batch"))

    def _create(self, body: dict[str, Any]) -> Response:
        source = self.files.get(body["input_file_id"])
        if source is None or source["purpose"] != "batch":
            return _error(400, "input_file_id must be a file uploaded with purpose 'batch'")
        lines = [json.loads(line) for line in source["content"].decode().splitlines() if line]
        items = [Item(line["custom_id"], line) for line in lines]
        batch = self.add_batch(items, body.get("metadata") or {})
        self.inputs[batch.id] = body["input_file_id"]
        batch_wire = self.wire_batch(batch)
        batch_wire["endpoint"] = body["endpoint"]
        return Response(200, batch_wire)

    def _list(self, query: dict[str, str]) -> Response:
        chunk, more = self.page(query.get("after"), int(query.get("limit", "20")))
        data = [self.wire_batch(b) for b in chunk]
        return Response(
            200,
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": more,
            },
        )

    # --- result files -----------------------------------------------------------------------------

    def _result_files(self, batch: FakeBatch) -> tuple[str | None, str | None]:
        """The batch's output and error files, written once when first asked for."""
        if batch.id not in self.written:
            output: list[str] = []
            errors: list[str] = []
            for index, item in reversed(list(enumerate(batch.items))):
                kind = batch.kind_of(index, self.outcomes)
                line = self._line(item, kind)
                (output if kind == "succeeded" else errors).append(json.dumps(line))
            self.written[batch.id] = (self._store(output), self._store(errors))
        return self.written[batch.id]

    def _store(self, lines: list[str]) -> str | None:
        if not lines:
            return None
        file_id = self.new_id("file")
        content = ("\n".join(lines) + "\n").encode()
        self.files[file_id] = {"purpose": "batch_output", "content": content}
        return file_id

    def _line(self, item: Item, kind: str) -> dict[str, Any]:
        line: dict[str, Any] = {"id": f"batch_req_{item.custom_id}", "custom_id": item.custom_id}
        if kind == "succeeded":
            body = self._completion(item.params["body"])
            line["response"] = {"status_code": 200, "request_id": "req_1", "body": body}
            line["error"] = None
        elif kind in _ERROR_LINES:
            status, error_type, message = _ERROR_LINES[kind]
            error = {"message": message, "type": error_type, "param": None, "code": None}
            line["response"] = {
                "status_code": status,
                "request_id": "req_2",
                "body": {"error": error},
            }
            line["error"] = None
        else:
            code = "batch_expired" if kind == "expired" else "batch_cancelled"
            message = f"This request was not executed ({kind})."
            line["response"] = None
            line["error"] = {"code": code, "message": message}
        return line

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = self.usage.get("input_tokens", 0) + self.usage.get("cache_read_input_tokens", 0)
        completion = self.usage.get("output_tokens", 0)
        cached = self.usage.get("cache_read_input_tokens", 0)
        return {
            "id": "chatcmpl-batch",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    # --- the batch object ------------------------------------------------------------------------

    def _status(self, batch: FakeBatch) -> str:
        if not batch.ended:
            return "cancelling" if batch.cancelled else "in_progress"
        if batch.cancelled:
            return "cancelled"
        kinds = {batch.kind_of(i, self.outcomes) for i in range(len(batch.items))}
        return "expired" if "expired" in kinds else "completed"

    def wire_batch(self, batch: FakeBatch) -> dict[str, Any]:
        status = self._status(batch)
        completed = failed = 0
        output_id = error_id = None
        if batch.ended:
            kinds = [batch.kind_of(i, self.outcomes) for i in range(len(batch.items))]
            completed = kinds.count("succeeded")
            failed = kinds.count("errored") + kinds.count("invalid_request")
            if not self.hides_results(batch):
                output_id, error_id = self._result_files(batch)
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": None,
            "input_file_id": self.inputs.get(batch.id, "file_input"),
            "completion_window": "24h",
            "status": status,
            "output_file_id": output_id,
            "error_file_id": error_id,
            "created_at": int(batch.created_at),
            "in_progress_at": int(batch.created_at),
            "expires_at": int(batch.created_at) + 86_400,
            "completed_at": int(batch.ended_at)
            if batch.ended_at and status == "completed"
            else None,
            "request_counts": {"total": len(batch.items), "completed": completed, "failed": failed},
            "metadata": batch.metadata,
        }

    @staticmethod
    def _file_object(file_id: str, filename: str, content: bytes, purpose: str) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
