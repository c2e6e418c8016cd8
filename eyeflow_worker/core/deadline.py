"""A job's own time limit, the one object every wait and attempt is bounded by.

Celery's hard time limits need the prefork pool and workers run threads, so a job bounds itself:
the job builds one `Deadline` and hands it to the provider chain. Each provider attempt starts
with `check()` (no call begins past the limit: `JobTimeout`), and every retry or rate-limit wait
reads `remaining()` so that none is planned beyond it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from eyeflow_worker.core.errors import JobTimeout


class Deadline:
    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    @classmethod
    def never(cls) -> Deadline:
        """No limit (a call made outside a job, e.g. a benchmark or a one-off script)."""
        return cls(math.inf)

    def remaining(self) -> float:
        return self._at - self._clock()

    def check(self) -> float:
        """The seconds left; `JobTimeout` when there are none."""
        left = self.remaining()
        if left <= 0:
            raise JobTimeout(f"The job ran past its time limit of {self.seconds:.0f} s")
        return left
