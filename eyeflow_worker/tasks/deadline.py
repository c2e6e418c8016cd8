"""A job's own time limit. Celery's hard limits need the prefork pool and workers run threads, so
a job bounds itself: no provider call starts past its deadline (repair rounds and fallbacks
included), and no retry or rate-limit wait is planned beyond it."""

from __future__ import annotations

import time

from eyeflow_worker.core.errors import JobTimeout
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider


class Deadline:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._at - time.monotonic()

    def check(self) -> float:
        """The seconds left; `JobTimeout` when there are none."""
        left = self.remaining()
        if left <= 0:
            raise JobTimeout(f"The job ran past its time limit of {self._seconds:.0f} s")
        return left


class DeadlineBoundProvider:
    """A provider that refuses to start a call once the job's deadline has passed."""

    def __init__(self, inner: Provider, deadline: Deadline) -> None:
        self.inner = inner
        self._deadline = deadline
        self.name = inner.name

    def complete(self, request: LLMRequest) -> LLMResponse:
        self._deadline.check()
        return self.inner.complete(request)
