"""Shared by the submission tests: a gateway on the real Redis (database 15, the gateway tests'
own; these tests never flush it — they delete the jobs they created and their own tenants'
keys, each test under a tenant of its own) whose broker is a stub that records what was sent.

A send the gateway collects into the record's script (`collected_send.py`: `send_task` given a
`producer`) still runs — it only builds the message — so the script pushes it onto this
database's queue lists, which no worker reads; `forget` empties them."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_gateway.enqueue import Submission, Submitter
from api_gateway.main import create_app
from eyeflow_worker.core.job_accept import Acceptor
from eyeflow_worker.core.records import JobStore, job_key
from eyeflow_worker.core.records_async import AsyncRecords
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.submit_rate import bucket_key

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"
JSON = {"content-type": "application/json"}


@dataclass
class Gateway:
    http: TestClient
    app: FastAPI
    tenant: str
    sent: list[str] = field(default_factory=list)  # task ids the (stubbed) broker was given

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None, **headers: str) -> Any:
        """POST as this gateway's tenant: `body` as JSON, or `raw` bytes as they are."""
        sent = {"X-User-ID": self.tenant, **JSON, **headers}
        if raw is not None:
            return self.http.post(path, content=raw, headers=sent)
        return self.http.post(path, json=body, headers=sent)


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, redis_url=REDIS_URL, **overrides)  # type: ignore[call-arg]


def connect() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 15
    return client


@contextmanager
def gateway(tenant: str | None = None, **overrides: Any) -> Iterator[Gateway]:
    """A gateway (its lifespan run, so /openapi.json states its limits) for one tenant; on exit
    the jobs it sent and the tenant's idempotency claims and rate bucket are deleted."""
    app = create_app(settings(**overrides))
    state = app.state.gateway
    here = Gateway(TestClient(app), app, tenant or f"t-{uuid.uuid4().hex[:12]}")

    try:
        with (
            recorded_sends(state, lambda _, sent: here.sent.append(sent["task_id"])),
            here.http,
        ):
            yield here
    finally:
        forget(here.tenant, here.sent)


@contextmanager
def recorded_sends(state: Any, record: Callable[[str, dict[str, Any]], None]) -> Iterator[Any]:
    """`state.celery.send_task` stubbed: `record(name, kwargs)` for every message enqueued. A
    collected send (see the module's docstring) goes on to build its message, and is recorded
    once the record's script has pushed it. Yields the stub."""
    build = state.celery.send_task
    accept = state.records.accept
    collected = threading.local()

    def send_task(name: str, **kwargs: Any) -> Any:
        if "producer" not in kwargs:
            return record(name, kwargs)
        collected.send = (name, kwargs)
        return build(name, **kwargs)

    async def accept_and_record(job: Any, **options: Any) -> Any:
        acceptance = await accept(job, **options)
        if acceptance.outcome == "created" and options.get("message"):
            record(*collected.send)
        return acceptance

    with (
        mock.patch.object(state.celery, "send_task", side_effect=send_task) as stub,
        mock.patch.object(state.records, "accept", side_effect=accept_and_record),
    ):
        yield stub


def forget(tenant: str, job_ids: list[str]) -> None:
    client = connect()
    try:
        for job_id in job_ids:
            client.delete(job_key(job_id), f"{job_key(job_id)}:intents")
        claims = list(client.scan_iter(match=f"eyeflow:idempotency:{tenant}:*"))
        # The fleet's queue lists (`eyeflow.interactive`, … and their priority steps).
        queue_lists = list(client.scan_iter(match="eyeflow.*"))
        client.delete(bucket_key(tenant), *claims, *queue_lists)
    finally:
        client.close()


class LoopSubmitter:
    """A `Submitter` outside a gateway, on an event loop of its own (opened on it: its
    `AsyncRecords`, as the gateway's lifespan opens them). `records`: an `AsyncRecords` subclass
    (a fault to inject); `store`: the sync `JobStore` (the path of another broker)."""

    def __init__(
        self,
        client: redis.Redis,
        celery: Any,
        settings: Settings,
        *,
        store: JobStore | None = None,
        records: type[AsyncRecords] = AsyncRecords,
    ) -> None:
        self._runner = asyncio.Runner()
        self.records = records(settings, Acceptor(client, 60))
        self._runner.run(self.records.open())
        store = store if store is not None else JobStore(client, 60)
        self.submitter = Submitter(client, store, self.records, celery, settings)

    def submit(self, **submission: Any) -> Submission:
        return self._runner.run(self.submitter.submit(**submission))

    def submit_all(self, submissions: list[dict[str, Any]]) -> list[Submission]:
        """All at once, on the loop (as concurrent requests to one gateway)."""

        async def every() -> list[Submission]:
            return await asyncio.gather(*(self.submitter.submit(**s) for s in submissions))

        return self._runner.run(every())

    def close(self) -> None:
        self._runner.run(self.records.aclose())
        self._runner.close()

    def __enter__(self) -> LoopSubmitter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
