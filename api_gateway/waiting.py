"""`?wait=S`: hold a request until the job ends or S seconds pass, woken by Redis pub/sub.

One listener per gateway process and Redis client (`done_listener`): a daemon thread on a
connection of its own, pattern-subscribed to every job's done channel (`eyeflow:job-done:*`,
published by the scripts that end a job), hands each message to the requests watching that job.
A wait costs no subscription, no connection, no thread and no polling of its own: the request —
a coroutine on the gateway's event loop — registers its watch, is woken by the job's message
(an `asyncio.Event`, set through its loop), and reads the record once (`records_async`) — or not
at all for a job submitted with `?wait`, whose done message carries its record.

No message is missed: a watch taken while the listener is subscribed sees every message
published after it; `?wait` on a submission takes its watch *before* the job exists, so it need
not read the record until woken, and `GET ?wait` reads it once after taking its watch. When the
listener's connection drops, every watch is woken to read the record again (messages may have
been lost meanwhile), and while it is not subscribed watches fall back to re-reading the record
every second. The cost: each gateway receives every job's done message (a few bytes each; batch
items publish none, only their batch's end), and ignores those nobody there waits on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import redis

from eyeflow_worker.core.records import RECORD_FIELDS, done_channel
from eyeflow_worker.core.records_async import AsyncRecords
from eyeflow_worker.core.task_view import TERMINAL

logger = logging.getLogger(__name__)

_PATTERN = done_channel("*")
_PREFIX = done_channel("")
# While the listener is not subscribed, a watch re-reads the record this often.
_FALLBACK_POLL_SECONDS = 1.0
_RECONNECT_SECONDS = 0.5
_STOP_CHECK_SECONDS = 0.5


class Watch:
    """One request's watch on a job: `wait` returns when the job's message came, the listener
    reconnected (read the record again), or the timeout passed. The request waits on its event
    loop; the listener's thread wakes it through that loop (`call_soon_threadsafe`), the one
    thread hand-off a wake-up costs."""

    def __init__(self, generation: int | None, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        # The listener's subscription this watch started under (None: it was not subscribed).
        self.generation = generation
        # The ended job's record, when its message carried it (a job submitted with `?wait`).
        self.record: dict[str, str] | None = None

    def wake(self, record: dict[str, str] | None = None) -> None:
        """From any thread."""
        with contextlib.suppress(RuntimeError):  # its loop closed: nobody waits on it any more
            self._loop.call_soon_threadsafe(self._woken, record)

    def _woken(self, record: dict[str, str] | None) -> None:
        if record is not None:
            self.record = record
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True


class DoneListener:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}
        # Bumped on every (re)subscription; None while not subscribed.
        self._generation: int | None = None
        self._count = 0
        self._thread: threading.Thread | None = None
        # The running thread's own stop flag: a thread that outlives `stop()`'s join (stuck on a
        # connect) still sees its flag set, whatever thread a later watch starts.
        self._stopping = threading.Event()

    @contextmanager
    def watch(self, job_id: str) -> Iterator[Watch]:
        """Watch `job_id` for the block, from a coroutine: it is woken on its loop (the listener
        is started on first use)."""
        self._ensure_running()
        loop = asyncio.get_running_loop()
        with self._lock:
            watch = Watch(self._generation, loop)
            self._watches.setdefault(job_id, set()).add(watch)
        try:
            yield watch
        finally:
            with self._lock:
                waiting = self._watches.get(job_id)
                if waiting is not None:
                    waiting.discard(watch)
                    if not waiting:
                        del self._watches[job_id]

    def reliable(self, watch: Watch) -> bool:
        """Has the listener been subscribed without a break since `watch` was taken?"""
        with self._lock:
            return watch.generation is not None and watch.generation == self._generation

    def _ensure_running(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._stopping,),
                    name="job-done-listener",
                    daemon=True,
                )
                self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread and its connection (the gateway's shutdown); a later watch would
        start it again. Waiting requests are woken, to read their records once more."""
        with self._lock:
            thread, stopping = self._thread, self._stopping
            self._thread, self._stopping = None, threading.Event()
        stopping.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self._listen(stopping)
            except Exception as error:  # Redis away: wake everyone, then try again
                logger.warning("job-done listener: %s; reconnecting", type(error).__name__)
            self._unsubscribed()
            stopping.wait(_RECONNECT_SECONDS)

    def _listen(self, stopping: threading.Event) -> None:
        pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
        try:
            pubsub.psubscribe(_PATTERN)
            while not stopping.is_set():
                # A short timeout: how long a shutdown waits for this thread to notice.
                message: dict[str, Any] | None = pubsub.get_message(timeout=_STOP_CHECK_SECONDS)
                if message is None:
                    continue
                if message["type"] == "psubscribe" and not stopping.is_set():
                    self._subscribed()
                elif message["type"] == "pmessage":
                    job_id = _text(message["channel"]).removeprefix(_PREFIX)
                    self._deliver(job_id, _text(message["data"]))
        finally:
            pubsub.close()

    def _subscribed(self) -> None:
        with self._lock:
            self._count += 1
            self._generation = self._count
            everyone = [w for watches in self._watches.values() for w in watches]
        for watch in everyone:  # messages may have been lost before: read again
            watch.wake()

    def _unsubscribed(self) -> None:
        with self._lock:
            self._generation = None
            everyone = [w for watches in self._watches.values() for w in watches]
        for watch in everyone:
            watch.wake()

    def _deliver(self, job_id: str, data: str) -> None:
        with self._lock:
            watches = list(self._watches.get(job_id, ()))
        if not watches:
            return
        record = _carried_record(data)
        for watch in watches:  # each its own copy: the requests may change what they get
            watch.wake(None if record is None else dict(record))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _carried_record(data: str) -> dict[str, str] | None:
    """The record a done message carries (`transitions.ENDED`: a JSON object of the record's
    fields), as `JobStore.get` reads it; None for a message of the status alone."""
    if not data.startswith("{"):
        return None
    fields = json.loads(data)
    return {name: str(fields[name]) for name in RECORD_FIELDS if name in fields}


@lru_cache(maxsize=8)
def done_listener(client: redis.Redis) -> DoneListener:
    """The process's listener for `client`'s Redis (one thread and connection per client)."""
    return DoneListener(client)


async def await_terminal(
    records: AsyncRecords,
    listener: DoneListener,
    watch: Watch,
    job_id: str,
    timeout_seconds: float,
    *,
    read_first: bool,
) -> dict[str, str] | None:
    """The job's record once terminal, or its latest record read when time ran out (None when
    none was read: a watch taken before the job existed that was never woken). `read_first`:
    read the record before the first wake-up (the job may have ended before the watch)."""
    deadline = time.monotonic() + timeout_seconds
    record: dict[str, str] | None = None
    if read_first or not listener.reliable(watch):
        record = await records.get(job_id)
        if record is None or record.get("status") in TERMINAL:
            return record
    while (remaining := deadline - time.monotonic()) > 0:
        reliable = listener.reliable(watch)
        woken = await watch.wait(remaining if reliable else min(remaining, _FALLBACK_POLL_SECONDS))
        if not woken and reliable:
            break  # subscribed all along and no message: the job has not ended
        record = watch.record if watch.record is not None else await records.get(job_id)
        if record is None or record.get("status") in TERMINAL:
            return record
    return record


async def wait_until_terminal(
    client: redis.Redis,
    records: AsyncRecords,
    job_id: str,
    timeout_seconds: float,
    slots: threading.BoundedSemaphore,
) -> dict[str, str] | None:
    """The job's record once terminal, or its latest record when time ran out — or at once when
    all `slots` are taken by other waiting requests (the caller then gets a plain 202)."""
    if not slots.acquire(blocking=False):
        return await records.get(job_id)
    listener = done_listener(client)
    try:
        with listener.watch(job_id) as watch:
            record = await await_terminal(
                records, listener, watch, job_id, timeout_seconds, read_first=True
            )
            return record if record is not None else await records.get(job_id)
    finally:
        slots.release()
