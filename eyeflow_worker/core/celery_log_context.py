"""A worker's log lines name the job they are about: the fields are bound when Celery starts a
task (`task_prerun`) and dropped when it ends (`task_postrun`), in the pool thread that runs it.

Which job a task serves is read off its arguments, the same for every task of the routing
table: a job task's are `[job_id, tenant, …]` (a batch item's `[job_id, tenant, index, run]`), a
webhook delivery's `[job_id]`. Celery's "received" line is logged by the consumer before any
pool thread has the task; its fields are read from the arguments the line itself carries.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from contextvars import Token
from datetime import UTC, datetime
from typing import IO, Any

from celery.apps import worker as celery_worker
from celery.signals import task_postrun, task_prerun

from eyeflow_worker.core import log_context
from eyeflow_worker.core.routing import Tasks

# task -> the kind of the job it works for (what the task object's `kind` says).
_JOB_KINDS: Mapping[str, str] = {
    Tasks.GENERATE: "generate",
    Tasks.REFINE: "refine",
    Tasks.EVALUATE: "evaluate",
    Tasks.BATCH_START: "batch",
    Tasks.BATCH_ITEM: "batch",
    Tasks.ECONOMY_SUBMIT: "batch",
    Tasks.ECONOMY_POLL: "batch",
}

# Celery task id -> the token of its binding: reset (not cleared) at postrun, so a task run
# in-process (eager) gives its caller's context back as it found it.
_tokens: dict[str, Token[Mapping[str, Any]]] = {}


def task_fields(
    name: str, args: Sequence[Any], *, celery_id: str | None, retries: int | None
) -> dict[str, Any]:
    """The log fields of a task `name` called with `args`. `attempt` is the delivery's (Celery's
    retries + 1) until the job's own count is read (`tasks.execution.run_job`); a batch item's
    is the item's attempt, as its result shows it. None when not known."""
    fields: dict[str, Any] = {"celery_task": name, "celery_task_id": celery_id}
    attempt = retries + 1 if retries is not None else None
    kind = _JOB_KINDS.get(name)
    if kind is not None and len(args) >= 2:
        fields.update(task_id=str(args[0]), tenant=str(args[1]), kind=kind, attempt=attempt)
        if name == Tasks.BATCH_ITEM and len(args) >= 4:
            run = args[3]
            fields.update(item=args[2], attempt=run + 1 if isinstance(run, int) else None)
    elif name == Tasks.WEBHOOK_DELIVER and args:
        # The webhook task binds the job's tenant and kind once it has read the record.
        fields.update(task_id=str(args[0]), attempt=attempt)
    return fields


def _bind_task(task_id: str, task: Any, args: Sequence[Any] | None, **_: Any) -> None:
    retries = getattr(getattr(task, "request", None), "retries", 0) or 0
    fields = task_fields(str(task.name), args or (), celery_id=task_id, retries=retries)
    _tokens[task_id] = log_context.bind(**fields)


def _unbind_task(task_id: str, **_: Any) -> None:
    token = _tokens.pop(task_id, None)
    try:
        if token is not None:
            log_context.reset(token)
            return
    except ValueError:  # bound in another context: nothing of ours to give back there
        pass
    log_context.clear()


def connect() -> None:
    """Bind every task's fields while it runs (idempotent: Celery keys receivers by id)."""
    task_prerun.connect(_bind_task, weak=False, dispatch_uid="eyeflow-log-context-prerun")
    task_postrun.connect(_unbind_task, weak=False, dispatch_uid="eyeflow-log-context-postrun")


class WorkerLogContextFilter(log_context.LogContextFilter):
    """The bound fields, and for Celery's "received" line (no task bound yet) those of the
    task it announces: its `data` extra carries the name and the arguments' repr."""

    def fields_for(self, record: logging.LogRecord) -> Mapping[str, Any]:
        bound = log_context.current()
        data = record.__dict__.get("data")
        if bound or not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return bound
        args = _literal(data.get("args"))
        fields = task_fields(data["name"], args, celery_id=data.get("id"), retries=None)
        # Known keys always present on a job's line, null when not known yet.
        return (
            {**dict.fromkeys(log_context.JOB_FIELDS), **fields} if "task_id" in fields else fields
        )


def _literal(text: Any) -> Sequence[Any]:
    """Celery's repr of a task's arguments (ids, tenant names, numbers) read back, or ()."""
    if not isinstance(text, str):
        return ()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return ()
    return value if isinstance(value, list | tuple) else ()


def say_in_json() -> None:
    """Celery's worker writes its shutdown and restart notices straight to the terminal (from
    signal handlers, bypassing logging): with LOG_FORMAT=json each becomes a JSON line too.
    Written with one `os.write`, as Celery does, since it runs inside a signal handler."""

    def say(msg: str, f: IO[str] = sys.__stderr__) -> None:  # type: ignore[assignment]
        line = {
            "level": "WARNING",
            "logger": "celery.apps.worker",
            "message": str(msg).strip(),
            "ts": datetime.now(UTC).isoformat(),
        }
        # A notice lost must never abort the shutdown it announces.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.write(f.fileno(), (json.dumps(line) + "\n").encode())

    celery_worker.safe_say = say
