"""Workers online, cheaply: a Celery ping (a broadcast that waits about a second for replies) is
cached in Redis and refreshed in the background, so /health never waits for replies and any
number of /health calls at once cost one ping.

Keys:

    eyeflow:health:workers        HASH  names (JSON list), at (µs, Redis TIME), and the last
                                        failed ping's error (exception class) and error_at
    eyeflow:health:workers:lock   STR   who is pinging now (PX-bounded single-flight lock)

Single flight twice over: in one process only one refresh runs at a time (a refresh hung past
`_HUNG_AFTER_SECONDS` beyond its timeout is given up on, so a stuck broker call cannot stop
refreshes for good); across gateways the Redis lock lets one of them ping at a time, and the
others read its answer from the cache.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from eyeflow_worker.tenant_config.singleflight import RedisLock

logger = logging.getLogger(__name__)

PING_KEY = "eyeflow:health:workers"
LOCK_KEY = f"{PING_KEY}:lock"
# Long enough for a ping the broker makes slow (kombu retries a refused connection for ~2 s);
# the holder releases it as soon as its ping ends.
_LOCK_MARGIN_SECONDS = 5.0
_HUNG_AFTER_SECONDS = 30.0
_RETENTION_SECONDS = 24 * 3600

#: ping(timeout) → the names of the workers that answered within it.
Ping = Callable[[float], list[str]]

# ARGV: outcome ('ok' | 'error'), names JSON | error class, retention seconds.
_RECORD = """
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
if ARGV[1] == 'ok' then
  redis.call('HSET', KEYS[1], 'names', ARGV[2], 'at', now)
  redis.call('HDEL', KEYS[1], 'error', 'error_at')
else
  redis.call('HSET', KEYS[1], 'error', ARGV[2], 'error_at', now)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return now
"""


def celery_ping(celery: Celery) -> Ping:
    """The real ping: every worker that answers Celery's `ping` broadcast within `timeout`."""

    def ping(timeout: float) -> list[str]:
        replies = celery.control.ping(timeout=timeout) or []
        return sorted(name for reply in replies for name in reply)

    return ping


def _age(now_us: int, stamp: str | None) -> float | None:
    return round(max(now_us - int(stamp), 0) / 1e6, 3) if stamp else None


def _names(raw: str | None) -> tuple[str, ...] | None:
    try:
        names = json.loads(raw) if raw is not None else None
    except ValueError:
        return None  # unreadable: as if never pinged, and pinged again
    return tuple(str(name) for name in names) if isinstance(names, list) else None


@dataclass(frozen=True)
class WorkersSeen:
    names: tuple[str, ...] | None  # None: no ping has answered yet
    age: float | None
    error: str | None  # the last ping's failure, when it failed after the cached answer
    refreshing: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "online": len(self.names) if self.names is not None else None,
            "names": list(self.names or ()),
            "ping_age_seconds": self.age,
            "refreshing": self.refreshing,
            "last_ping_error": self.error,
        }

    def reason(self) -> str | None:
        # Not pinged yet (a fresh fleet) is no evidence of trouble: the answer says so instead.
        return "no worker online" if self.names == () else None


class WorkerLiveness:
    def __init__(
        self,
        client: redis.Redis,
        ping: Ping,
        *,
        max_age_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self._client = client
        self._ping = ping
        self.max_age = max_age_seconds
        self.timeout = timeout_seconds
        self._record = client.register_script(_RECORD)
        self._guard = threading.Lock()
        self._running_since: float | None = None  # monotonic start of the refresh in flight
        self._generation = 0
        self._next_try = 0.0

    def seen(self, raw: Mapping[str, str], now_us: int) -> WorkersSeen:
        """The cached ping (`raw`, read by the caller's round trip) at `now_us` (Redis TIME);
        starts a background refresh when it is older than `max_age` (or missing)."""
        names = _names(raw.get("names"))
        age = _age(now_us, raw.get("at")) if names is not None else None
        if age is None or age > self.max_age:
            self.refresh_in_background()
        return WorkersSeen(names, age, raw.get("error"), self.refreshing)

    @property
    def refreshing(self) -> bool:
        return self._running_since is not None

    def refresh_in_background(self) -> bool:
        """Start one refresh unless one is running (or was tried a moment ago); never waits."""
        now = time.monotonic()
        with self._guard:
            running = self._running_since
            if now < self._next_try or (
                running is not None and now - running < self.timeout + _HUNG_AFTER_SECONDS
            ):
                return False
            self._running_since = now
            # When another gateway holds the Redis lock, its answer lands within about a ping.
            self._next_try = now + self.timeout
            self._generation += 1
            generation = self._generation
        thread = threading.Thread(
            target=self._refresh, args=(generation,), name="eyeflow-health-ping", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: answer from the cache, try again later
            self._finished(generation)
            return False
        return True

    def _finished(self, generation: int) -> None:
        with self._guard:
            if self._generation == generation:
                self._running_since = None

    def _refresh(self, generation: int) -> None:
        try:
            lock = RedisLock(self._client, LOCK_KEY, self.timeout + _LOCK_MARGIN_SECONDS)
            token = lock.try_acquire()
            if token is None:
                return  # another gateway is pinging
            with lock.holding(token):
                # The read that started this refresh may predate another one's answer.
                if not self._fresh():
                    self._ping_and_record()
        except redis.exceptions.RedisError as exc:
            logger.warning("Worker ping for /health not recorded: %s", type(exc).__name__)
        finally:
            self._finished(generation)

    def _fresh(self) -> bool:
        pipe = self._client.pipeline(transaction=False)
        pipe.hget(PING_KEY, "at")
        pipe.time()
        at, (seconds, micros) = pipe.execute()
        age = _age(int(seconds) * 1_000_000 + int(micros), at)
        return age is not None and age <= self.max_age

    def _ping_and_record(self) -> None:
        try:
            names = self._ping(self.timeout)
        # A background thread has nobody to raise to; kombu and Celery raise many kinds here.
        except Exception as exc:
            logger.warning("Worker ping for /health failed: %s", type(exc).__name__)
            self._record(keys=[PING_KEY], args=["error", type(exc).__name__, _RETENTION_SECONDS])
            return
        self._record(keys=[PING_KEY], args=["ok", json.dumps(sorted(names)), _RETENTION_SECONDS])
