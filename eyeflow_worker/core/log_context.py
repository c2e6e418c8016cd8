"""What the log lines of one job (or one gateway request) carry: task_id, tenant, kind, attempt,
and in the gateway request_id and path.

The fields live in one context variable, read by `LogContextFilter` on every record a handler
emits. A context variable, not a thread-local: the gateway's async middleware sets it in the
request's task and FastAPI runs sync routes in worker threads with a copy of that context, and a
Celery threads-pool worker runs each task in one pool thread (which starts with a context of its
own), so what one job binds is never seen by another running beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

JOB_FIELDS = ("task_id", "tenant", "kind", "attempt")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_fields: ContextVar[Mapping[str, Any]] = ContextVar("eyeflow_log_fields", default=_EMPTY)


def current() -> Mapping[str, Any]:
    """The fields bound in this context (read-only)."""
    return _fields.get()


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add `fields` to this context's (None values left out); `reset(token)` undoes it."""
    merged = {**_fields.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _fields.set(MappingProxyType(merged))


def reset(token: Token[Mapping[str, Any]]) -> None:
    _fields.reset(token)


def clear() -> None:
    _fields.set(_EMPTY)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """`fields` bound for the duration of the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        reset(token)


class LogContextFilter(logging.Filter):
    """Copies the bound fields onto every record (a field the call passed in `extra` wins).
    Installed on handlers, so records propagated from any logger get them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields_for(record).items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True

    def fields_for(self, record: logging.LogRecord) -> Mapping[str, Any]:
        del record  # subclasses may read fields off the record itself
        return current()
