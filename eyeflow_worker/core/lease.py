"""Leases: work owned for a short time that its holder keeps renewing while it works.

A lock with a long expiry (the task's 30-minute time limit) is safe but slow to recover: a
worker killed while holding it keeps everyone else out for the whole expiry. A lease is short
(`LEASE_SECONDS`, 30 s by default) and renewed every third of it by a daemon thread
(`Heartbeat`) for as long as its holder runs, also while it waits on a provider, a rate limit
or a retry; a holder that dies stops renewing, and its work is free again within one lease.

`RedisLease` is such a lease on one Redis key (SET NX PX with a random token, renewed and
released only by the holder of the token, so a holder that outlived its lease never extends or
frees the next holder's). `Heartbeat` is the renewing thread alone, for leases kept elsewhere.
`Renewer` is one renewing thread for many leases: a worker process registers every job lease it
holds there and one call per tick renews them all, so a job costs no thread of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from uuid import uuid4

import redis

logger = logging.getLogger(__name__)

# KEYS[1] lease. ARGV: token, ttl ms. Extends the lease only while this token holds it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS[1] lease. ARGV: token. Frees the lease only while this token holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Heartbeat:
    """Calls `beat` every `interval_seconds` on a daemon thread until `stop`. `beat` answers
    False when the lease was lost (someone else holds it now): the heartbeat stops and `lost`
    turns True. A `beat` that raises (Redis briefly unreachable) is logged and tried again at
    the next interval: the lease may lapse meanwhile, which only lets the work be taken over."""

    def __init__(self, beat: Callable[[], bool], interval_seconds: float, name: str) -> None:
        self._beat = beat
        self._interval = interval_seconds
        self._stopped = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{name}", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._interval + 1.0)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                kept = self._beat()
            except Exception as exc:  # the next beat tries again; never kill the worker
                logger.warning("%s: renewing failed (%s)", self._thread.name, exc)
                continue
            if not kept:
                logger.warning("%s: lost to another holder", self._thread.name)
                self._lost.set()
                return


class Renewer:
    """Renews every lease registered with `hold` (key → fencing token) every
    `interval_seconds`, with one `renew_all` call per tick on one daemon thread (started at the
    first `hold`), until `drop`. `renew_all` answers the keys whose lease was lost (someone else
    holds it now): they are dropped. A `renew_all` that raises (Redis briefly unreachable) is
    logged and tried again at the next tick: the leases may lapse meanwhile, which only lets the
    work be taken over. A lease is renewed at most `interval_seconds` after it was taken, as a
    `Heartbeat` of its own would; a tick with nothing held costs nothing."""

    def __init__(
        self,
        renew_all: Callable[[Mapping[str, str]], set[str]],
        interval_seconds: float,
        name: str,
    ) -> None:
        self._renew_all = renew_all
        self._interval = interval_seconds
        self._name = name
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, key: str, token: str) -> None:
        with self._lock:
            self._held[key] = token
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def drop(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)

    def holding(self) -> dict[str, str]:
        with self._lock:
            return dict(self._held)

    def renew_now(self) -> None:
        """One tick: renew what is held now (the thread's loop; callable from tests)."""
        held = self.holding()
        if not held:
            return
        try:
            lost = self._renew_all(held)
        except Exception as exc:  # the next tick tries again; never kill the worker
            logger.warning("%s: renewing %d lease(s) failed (%s)", self._name, len(held), exc)
            return
        with self._lock:
            for key in lost:
                # Dropped meanwhile (the job ended as the tick ran) or held anew: not a loss.
                if self._held.get(key) == held.get(key):
                    logger.warning("%s: lease %s lost to another holder", self._name, key)
                    del self._held[key]

    def _run(self) -> None:
        stopped = threading.Event()  # never set: the thread lives as long as its process
        while not stopped.wait(self._interval):
            self.renew_now()


class RedisLease:
    """A lease on one Redis key; see the module docstring."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        ttl_seconds: float,
        on_renew: Callable[[float], None] | None = None,
    ) -> None:
        self._redis = client
        self.key = key
        self.ttl_seconds = ttl_seconds
        self._on_renew = on_renew
        self._token = uuid4().hex
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._heartbeat: Heartbeat | None = None

    @property
    def lost(self) -> bool:
        return self._heartbeat is not None and self._heartbeat.lost

    def acquire(self) -> bool:
        """Take the lease if it is free and start renewing it; False when someone holds it."""
        if not self._redis.set(self.key, self._token, nx=True, px=self._ttl_ms):
            return False
        self._heartbeat = Heartbeat(self.renew, self.ttl_seconds / 3, self.key)
        self._heartbeat.start()
        return True

    def renew(self) -> bool:
        """Extend the lease by its ttl; False when this holder no longer has it."""
        kept = bool(self._renew(keys=[self.key], args=[self._token, self._ttl_ms]))
        if kept and self._on_renew is not None:
            self._on_renew(self.ttl_seconds)
        return kept

    def release(self) -> None:
        """Stop renewing and free the lease (if still held; a lapsed one is left alone)."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        try:
            self._release(keys=[self.key], args=[self._token])
        except redis.RedisError as exc:  # it lapses by itself within one ttl
            logger.warning("lease %s: release failed (%s)", self.key, exc)

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_seconds * 1000))


@contextmanager
def leased(
    client: redis.Redis,
    key: str,
    ttl_seconds: float,
    on_renew: Callable[[float], None] | None = None,
) -> Iterator[bool]:
    """Hold the lease on `key` for the block: yields True when taken (renewed until the block
    ends, then released), False when another holder has it."""
    lease = RedisLease(client, key, ttl_seconds, on_renew)
    held = lease.acquire()
    try:
        yield held
    finally:
        if held:
            lease.release()
