"""How `wait` spends its time, shared by the sync and the async client (they only sleep and send).

Each poll asks the gateway to hold the answer (`?wait=`, up to 60 s): the gateway wakes the
request when the job ends (Redis pub/sub), so a job that ends is seen at once, with no interval
guessed. A gateway that answers a held poll at once anyway — all its wait slots taken, or one
that predates `?wait=` — is polled with a backoff instead (0.25 s doubling to 5 s), and so is
one that failed in a way worth retrying (429 and 5xx after their `Retry-After`, network errors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eyeflow_worker.client.calls import MAX_WAIT_SECONDS
from eyeflow_worker.client.errors import EyeflowError, RateLimited, Unavailable

FIRST_BACKOFF = 0.25
MAX_BACKOFF = 5.0
# A held poll that came back this much earlier than asked, unfinished, was not held.
_HELD_SLACK = 0.5


@dataclass
class WaitPlan:
    """The deadline, and what to do after each answer or error. `timeout=None`: no deadline."""

    timeout: float | None
    clock: Callable[[], float]
    _deadline: float | None = field(init=False)
    _backoff: float = field(init=False, default=FIRST_BACKOFF)

    def __post_init__(self) -> None:
        self._deadline = None if self.timeout is None else self.clock() + max(self.timeout, 0.0)

    def remaining(self) -> float | None:
        return None if self._deadline is None else max(self._deadline - self.clock(), 0.0)

    def expired(self) -> bool:
        return self.remaining() == 0.0

    def hold(self) -> float | None:
        """Seconds to ask the gateway to hold the next poll; None (a plain read) once the
        deadline has passed, so the caller gets the task as it stands."""
        left = self.remaining()
        if left is None:
            return MAX_WAIT_SECONDS
        return min(left, MAX_WAIT_SECONDS) if left > 0 else None

    def pause_after_answer(self, asked: float | None, took: float) -> float:
        """Seconds to sleep before the next poll, after an unfinished answer."""
        if asked is not None and took >= asked - _HELD_SLACK:
            self._backoff = FIRST_BACKOFF  # the gateway holds polls: ask again at once
            return 0.0
        return self._next_backoff()

    def pause_after_error(self, error: EyeflowError) -> float | None:
        """Seconds to sleep before trying again, or None: raise it (not retryable, or the
        deadline has passed)."""
        if not error.retryable or self.expired():
            return None
        after = error.retry_after if isinstance(error, RateLimited | Unavailable) else None
        return self._clip(after) if after is not None else self._next_backoff()

    def _next_backoff(self) -> float:
        pause = self._clip(self._backoff)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        return pause

    def _clip(self, seconds: float) -> float:
        left = self.remaining()
        return seconds if left is None else min(seconds, left)
