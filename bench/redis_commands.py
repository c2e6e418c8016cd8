"""Counting the Redis commands a job costs, from `MONITOR` (database 12 only, so other users of
the shared Redis are not counted).

`MONITOR` prints every command a client sends (`[12 127.0.0.1:port]`) and every command a Lua
script runs (`[12 lua]`): client commands are what crosses the network (a pipeline's commands
are one round trip but still counted one by one), Lua's are work done inside one `EVALSHA`.
The fleet's background (kombu's polling, heartbeats, the reaper) is measured idle first and
subtracted as a rate.

Scripts in bench/ run as `python bench/<name>.py`, so this module is imported as `redis_commands`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

_LINE = re.compile(r'^[\d.]+ \[(\d+) ([^\]]+)\] "([^"]+)"')


@dataclass
class Tally:
    client: Counter[str] = field(default_factory=Counter)
    lua: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


@contextmanager
def monitored(url: str, db: int = 12) -> Iterator[Tally]:
    """Tally every command on `db` while the block runs."""
    tally = Tally()
    stop = threading.Event()
    ready = threading.Event()
    conn = redis.Redis.from_url(url).connection_pool.get_connection()
    conn.send_command("MONITOR")

    def read() -> None:
        conn.read_response()  # the OK
        ready.set()
        while not stop.is_set():
            raw = conn.read_response()
            line = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            match = _LINE.match(line)
            if match is None or int(match.group(1)) != db:
                continue
            name = match.group(3).upper()
            if name == "PING" and "__bench_stop__" in line:
                return
            (tally.lua if match.group(2) == "lua" else tally.client)[name] += 1

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready.wait(5)
    started = time.perf_counter()
    try:
        yield tally
    finally:
        tally.seconds = time.perf_counter() - started
        stop.set()
        redis.Redis.from_url(url).execute_command("PING", "__bench_stop__")
        reader.join(5)
        conn.disconnect()


@dataclass(frozen=True)
class PerJob:
    client: float
    lua: float
    top: list[tuple[str, float]]


def per_job(url: str, jobs: int, run: Callable[[], None], idle: Tally) -> PerJob:
    """Commands per job of `run` (called `jobs` times), minus the idle rate `idle` measured."""
    with monitored(url) as tally:
        for _ in range(jobs):
            run()
    scale = tally.seconds / idle.seconds if idle.seconds else 0.0
    client = Counter({k: v - idle.client.get(k, 0) * scale for k, v in tally.client.items()})
    lua = sum(tally.lua.values()) - sum(idle.lua.values()) * scale
    top = [(name, count / jobs) for name, count in client.most_common(8) if count / jobs >= 0.05]
    return PerJob(max(0.0, sum(client.values()) / jobs), max(0.0, lua / jobs), top)


def idle_tally(url: str, seconds: float) -> Tally:
    with monitored(url) as tally:
        time.sleep(seconds)
    return tally
