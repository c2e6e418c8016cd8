"""A loopback fake provider served from a child process, so its threads (dozens of concurrent
requests) do not compete for the benchmark process's GIL while the benchmark is timing calls.

`start()` is a context manager that serves the fake (and yields it, with a `url`); the child
enters it, sends the URL back over a pipe, and answers `stats()` requests — `stats(fake)` is a
small dict of counters — until the block ends.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

Starter = Callable[[], AbstractContextManager[Any]]
Stats = Callable[[Any], dict[str, int]]


def _serve(start: Starter, stats: Stats, pipe: Connection) -> None:
    with start() as fake:
        pipe.send(str(fake.url))
        while True:
            try:
                pipe.recv()
            except EOFError:
                return
            pipe.send(stats(fake))


@dataclass
class ChildFake:
    url: str
    _pipe: Connection

    def stats(self) -> dict[str, int]:
        self._pipe.send("stats")
        counters: dict[str, int] = self._pipe.recv()
        return counters


@contextmanager
def fake_in_child(start: Starter, stats: Stats) -> Iterator[ChildFake]:
    """Serve `start()` in a forked child for the duration of the block."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(start, stats, child), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise SystemExit("the fake provider did not start")
        yield ChildFake(str(parent.recv()), parent)
    finally:
        process.terminate()
        process.join(timeout=5)
