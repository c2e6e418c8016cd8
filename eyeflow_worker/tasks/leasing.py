"""Work under a job lease (`core/job_leases.py`), and the reaper that takes back the work of
dead workers.

Every job message (generate, refine, evaluate, a batch's start, a batch item) runs inside
`leased` (`leased_job`): it takes the job's lease before doing anything — a message that finds
the job leased (its holder may still be running it: a broker redelivery, a reaper's re-send
racing a slow worker) does nothing — and renews it every third of `LEASE_SECONDS` while it
works, waits on a rate limit or sleeps before a provider retry: one daemon thread per process
(`Renewer`) renews every lease the process holds, in one script per tick. It releases the lease
when the job's outcome is stored — generate, refine and evaluate (`leased_job`) take it in the
script that starts the job and end it in the one that stores its outcome, so the lease costs
them no round trip of its own; a batch item that waits out a transient error hands it to the
re-try's countdown message; a task that raises for Celery's infrastructure retry hands it to
its own retry (same task id).

Each worker process marks itself present (`eyeflow:worker:{id}`, half a lease, renewed every
third of that).
The reaper runs on beat (`eyeflow.leases.reap`, every 10 s), in every worker every 10 s and at
start-up, one at a time fleet-wide: a held lease that expired and whose worker is gone (or has
not renewed for `_STALE_HOLDER_LEASES` leases), or a handed lease whose message never came, is
handed to a new message, which is then sent. With the defaults a killed worker's jobs are sent
again 20–45 s after the kill. A graceful stop gives its leases up at once (Celery's soft
shutdown hands a running job's message back: `worker_consumer.job_handed_back`), so the
messages that go back are taken immediately.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Final

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from eyeflow_worker.celery_app import app, settings
from eyeflow_worker.core.job_leases import LeaseStore, Work, job_lease_key
from eyeflow_worker.core.lease import Heartbeat, Renewer
from eyeflow_worker.core.record_lease import Begun, LeaseAsk
from eyeflow_worker.core.routing import queue_for
from eyeflow_worker.core.worker_consumer import job_handed_back
from eyeflow_worker.runtime import Runtime, runtime_of

logger = logging.getLogger(__name__)

# A worker's presence lasts this share of a lease unless renewed (every third of it): a dead
# worker is gone before its leases expire (15 s of the default 30 s).
PRESENCE_SHARE_OF_LEASE: Final = 0.5
# How long a handed lease waits for its message (a countdown's wait not included) before the
# reaper sends the job again: room for a queue that is busy, not for one that is stuck.
HANDOFF_SECONDS: Final = 120.0
# Celery's infrastructure retry waits at most a minute (`retry_backoff_max`).
_INFRA_RETRY_WAIT_SECONDS: Final = 60.0
# A holder whose presence lives but whose lease expired this many leases ago is stuck.
_STALE_HOLDER_LEASES: Final = 3
REAP_EVERY_SECONDS: Final = 10.0
_REAPER_LOCK: Final = "eyeflow:leases:reaper"
_REAPER_LOCK_MS: Final = 30_000


@lru_cache(maxsize=1)
def _worker_id(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:6]}"


def worker_id() -> str:
    """This process's id in leases (a forked child gets its own)."""
    return _worker_id(os.getpid())


@lru_cache(maxsize=8)
def _store(client: redis.Redis, ttl_seconds: int) -> LeaseStore:
    return LeaseStore(client, ttl_seconds)


def lease_store(rt: Runtime) -> LeaseStore:
    return _store(rt.redis, rt.settings.task_record_ttl_seconds)


def message(task: str, args: Sequence[Any], kwargs: Mapping[str, Any], task_id: str | None,
            fallback_id: str) -> Work:  # fmt: skip
    """The message a task is running, as a lease records it (to be sent again)."""
    return Work(task, list(args), dict(kwargs), queue_for(task, settings), task_id or fallback_id)


def redelivered(request: Any) -> bool:
    """Did the broker deliver this Celery request's message again (its consumer died)?"""
    info = getattr(request, "delivery_info", None) or {}
    return bool(info.get("redelivered"))


# --- holding ------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _renewer_of(pid: int, store: LeaseStore, ttl_seconds: float) -> Renewer:
    del pid  # a key only: a forked child builds (and starts) its own renewer
    return Renewer(
        lambda held: store.renew_many(held, time.time() + ttl_seconds),
        ttl_seconds / 3,
        f"lease-renewer:{worker_id()}",
    )


def renewer(rt: Runtime) -> Renewer:
    """This process's one renewer of the leases it holds (every third of a lease)."""
    return _renewer_of(os.getpid(), lease_store(rt), rt.settings.lease_seconds)


@dataclass
class Held:
    """A lease this process holds; `hand_over`, `release` or `ended_with_job` end it (once)."""

    store: LeaseStore
    key: str
    token: str
    work: Work
    renewer: Renewer
    tenant: str  # the job record's: the tenant a worker acts for
    ended: bool = field(default=False)

    def tenant_for(self, named: str) -> str:
        """The job's tenant; a message naming another (sent by hand, e.g. from Flower) is
        logged and overruled: a worker never acts for a tenant the job does not belong to."""
        if named != self.tenant:
            logger.warning("%s names tenant %r, but the job belongs to %r: acting for %r",
                           self.work.task_id, named, self.tenant, self.tenant)  # fmt: skip
        return self.tenant

    def hand_over(self, next_message: Work, until: float) -> None:
        """The job goes on in `next_message` (due by `until`): it may take the lease then."""
        self._stop()
        self.store.hand_over(self.key, self.token, next_message, until)

    def release(self) -> None:
        self._stop()
        self.store.release(self.key, self.token)

    def ended_with_job(self) -> None:
        """The script that ended the job ended this lease too (`transitions.FINISH`)."""
        self._stop()

    def _stop(self) -> None:
        self.renewer.drop(self.key)
        self.ended = True


@dataclass(frozen=True)
class StartedJob:
    """A job this process leased and started (`leased_job`): the job as started."""

    job_id: str
    held: Held
    record: Mapping[str, str]
    payload: Mapping[str, Any]


_held: dict[str, Held] = {}
_held_lock = threading.Lock()


@contextmanager
def leased(rt: Runtime, key: str, work: Work, *, redelivery: bool = False) -> Iterator[Held | None]:
    """Hold the lease on `key` for `work` for the block; None when the job is leased by another
    message (or gone): then do nothing. Released at the end of the block unless handed over; an
    exception (Celery's infrastructure retry, a time limit) hands it to the same message, so its
    retry takes it at once and the reaper re-sends it if that retry never comes."""
    _ensure_present(rt)
    store = lease_store(rt)
    ttl = rt.settings.lease_seconds
    taken = store.acquire(key, work, worker_id(), time.time(), ttl, redelivered=redelivery)
    if taken.code != 1 or taken.tenant is None:
        if taken.code == 0:
            logger.info("%s: leased by %s; this delivery does nothing", work.task_id, taken.value)
        yield None
        return
    with _holding(Held(store, key, taken.value, work, renewer(rt), taken.tenant)) as held:
        yield held


@contextmanager
def leased_job(
    rt: Runtime, job_id: str, work: Work, *, redelivery: bool = False
) -> Iterator[StartedJob | Begun]:
    """`leased` for a job whose lease lives on its record (generate, refine, evaluate), with
    the job's start: the lease is taken in the script that starts and reads the job
    (`JobStore.begin`), and the script that ends the job ends it (pass `held.token` to
    `succeed`/`fail`, then call `held.ended_with_job`), so the lease costs no round trip. Yields
    the started job, or what `begin` answered when the job does not run here (`Begun.code` 0:
    leased by another message; 2: ended already; -1: gone). Exceptions and the end of the block
    as `leased`'s."""
    _ensure_present(rt)
    ask = LeaseAsk(work, worker_id(), time.time(), rt.settings.lease_seconds, redelivery)
    begun = rt.jobs.begin(job_id, ask)
    if begun.code != 1 or begun.record is None or begun.payload is None:
        if begun.code == 0:
            logger.info("%s: leased by %s; this delivery does nothing", work.task_id, begun.holder)
        yield begun
        return
    tenant = begun.record.get("tenant", "")
    held = Held(lease_store(rt), job_lease_key(job_id), begun.token, work, renewer(rt), tenant)
    with _holding(held):
        yield StartedJob(job_id, held, begun.record, begun.payload)


@contextmanager
def _holding(held: Held) -> Iterator[Held]:
    """Renew `held` (with every other lease of this process) for the block; see `leased`."""
    held.renewer.hold(held.key, held.token)
    with _held_lock:
        _held[held.key] = held
    try:
        yield held
    except BaseException:
        if not held.ended:
            _best_effort(lambda: held.hand_over(held.work, time.time() + _INFRA_RETRY_WAIT_SECONDS))
        raise
    finally:
        with _held_lock:
            _held.pop(held.key, None)
        if not held.ended:
            _best_effort(held.release)


def _best_effort(step: Any) -> None:
    try:
        step()
    except redis.RedisError as exc:  # the lease lapses by itself; the reaper does the rest
        logger.warning("lease bookkeeping failed: %s", exc)


# --- presence -----------------------------------------------------------------------------------

_presence_started: set[int] = set()
_presence_lock = threading.Lock()


def _ensure_present(rt: Runtime) -> None:
    """Mark this process present and keep it so (once per process)."""
    pid = os.getpid()
    with _presence_lock:
        if pid in _presence_started:
            return
        _presence_started.add(pid)
    store = lease_store(rt)
    presence = rt.settings.lease_seconds * PRESENCE_SHARE_OF_LEASE

    def beat() -> bool:
        store.mark_present(worker_id(), presence)
        return True

    _best_effort(beat)
    Heartbeat(beat, presence / 3, f"presence:{worker_id()}").start()


# --- the reaper ---------------------------------------------------------------------------------


def reap(rt: Runtime, celery: Celery, now: float | None = None) -> int:
    """Send again every job whose lease expired and whose worker is gone (or stuck), and every
    handed job whose message never came; how many were sent. One reaper at a time fleet-wide."""
    now = time.time() if now is None else now
    lock, lock_token = _REAPER_LOCK, uuid.uuid4().hex
    if not rt.redis.set(lock, lock_token, nx=True, px=_REAPER_LOCK_MS):
        return 0
    try:
        return _reap(rt, celery, now)
    finally:
        if rt.redis.get(lock) == lock_token:
            rt.redis.delete(lock)


def _reap(rt: Runtime, celery: Celery, now: float) -> int:
    store = lease_store(rt)
    expired = store.expired(now)
    alive = store.present([e.worker for e in expired if e.state == "held" and e.worker])
    stale_after = _STALE_HOLDER_LEASES * rt.settings.lease_seconds
    sent = 0
    for lease in expired:
        if lease.state == "held" and lease.worker in alive and now - lease.expires_at < stale_after:
            continue  # its worker lives: a renewal late by a Redis blip, not a death
        retry = replace(lease.work, task_id=f"{_base_id(lease.work.task_id)}:rp{lease.token}")
        if not store.hand_over(lease.key, lease.token, retry, now + HANDOFF_SECONDS,
                               expired_by=now):  # fmt: skip
            continue  # renewed or taken meanwhile
        logger.warning("%s: lease %s (worker %s) expired %.0fs ago; sending it again as %s",
                       lease.work.task_id, lease.state, lease.worker or "-",
                       now - lease.expires_at, retry.task_id)  # fmt: skip
        celery.send_task(retry.task, args=list(retry.args), kwargs=dict(retry.kwargs),
                         task_id=retry.task_id, queue=retry.queue)  # fmt: skip
        rt.metrics.count("eyeflow_leases_reaped", task=retry.task)
        sent += 1
    return sent


def _base_id(task_id: str) -> str:
    return task_id.split(":rp", 1)[0]


@worker_ready.connect
def _reap_on_start(sender: Any = None, **_: Any) -> None:
    """A starting worker marks itself present, takes back what dead workers held at once, and
    reaps every few seconds in a daemon thread (so recovery needs no beat)."""
    del sender
    rt = runtime_of(app, settings)
    _ensure_present(rt)
    threading.Thread(target=_reap_forever, args=(rt,), name="lease-reaper", daemon=True).start()


def _reap_forever(rt: Runtime) -> None:
    while True:
        try:
            reap(rt, app)
        except Exception as error:  # Redis or the broker away: the next round tries again
            logger.warning("lease reaper failed: %s", error)
        time.sleep(REAP_EVERY_SECONDS)


@job_handed_back.connect
def _hand_to_the_returned_message(sender: Any = None, request: Any = None, **_: Any) -> None:
    """A soft shutdown is handing a running job's message back to the broker: its lease goes to
    that very message, expired, so the worker that receives it runs the job at once instead of
    finding it held by this stopping one."""
    del sender
    task_id = getattr(request, "id", None)
    with _held_lock:
        held = [lease for lease in _held.values() if lease.work.task_id == task_id]
    for lease in held:
        _best_effort(lambda lease=lease: lease.hand_over(lease.work, time.time()))


@worker_shutdown.connect
def _give_up_leases(sender: Any = None, **_: Any) -> None:
    """A graceful stop: Celery puts the messages of unfinished jobs back; their leases are
    handed to those very messages, expired, so whoever receives them takes them at once."""
    del sender
    with _held_lock:
        held = list(_held.values())
    now = time.time()
    for lease in held:
        if not lease.ended:
            _best_effort(lambda lease=lease: lease.hand_over(lease.work, now))
    rt = runtime_of(app, settings)
    _best_effort(lambda: lease_store(rt).mark_gone(worker_id()))
