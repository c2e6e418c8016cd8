"""The one retry loop around a provider call (every SDK's own retries are switched off).

The policy is two pure functions on `RetryPolicy` — should we try again, and how long to wait —
in the spirit of the Anthropic SDK's: a retryable `ProviderError` is retried while attempts and
the total time budget last; the wait is the server's `retry_after` when it sent one, otherwise
exponential backoff with full jitter. A server's wait is never shorter than the base delay
(`Retry-After: 0` or a past date must not turn into back-to-back retries), and an absurd one
(over `ABSURD_RETRY_AFTER_SECONDS`) is taken as the policy's longest backoff. A
server-requested wait that would overrun the budget ends the retries at once (the fallback
chain can then serve instead of a doomed wait), and no wait is ever longer than what is left of
the budget.

The job's `Deadline` bounds all of this, and this loop is the one place it is checked: no attempt
starts once it is spent (`JobTimeout`, which is not a `ProviderError`, so no fallback swallows
it), and a wait that would not end before it is not taken — the link gives up at once with its
error, leaving what time remains to the next fallback link instead of sleeping it away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from random import random as _uniform

from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import ProviderError
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.http_errors import ABSURD_RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)

RetryListener = Callable[[float, Exception], None]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    max_total_seconds: float = 300.0
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0
    jitter: Callable[[], float] = field(default=_uniform, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=max(1, settings.llm_max_attempts),
            max_total_seconds=settings.llm_retry_max_total_seconds,
            base_delay_seconds=settings.llm_retry_base_delay_seconds,
            max_delay_seconds=settings.llm_retry_max_delay_seconds,
        )

    def should_retry(self, error: Exception, attempt: int, elapsed: float) -> bool:
        """After `attempt` (1-based) failed with `error`, `elapsed` seconds into the call."""
        if not isinstance(error, ProviderError) or not error.retryable:
            return False
        if attempt >= self.max_attempts or elapsed >= self.max_total_seconds:
            return False
        if error.retry_after is None:
            return True
        if error.retry_after > self.max_total_seconds - elapsed:
            # The server asks for longer than this call has left (an exhausted daily quota, say):
            # give up now so a fallback can serve, rather than hammer it at our own pace.
            return False
        return elapsed + self.server_delay(error.retry_after) <= self.max_total_seconds

    def server_delay(self, retry_after: float) -> float:
        """The wait taken for a server's `retry_after`: at least the base delay, and the longest
        backoff instead of an absurd value."""
        if retry_after > ABSURD_RETRY_AFTER_SECONDS:
            return self.max_delay_seconds
        return max(retry_after, self.base_delay_seconds)

    def retry_delay(self, error: Exception, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1`."""
        retry_after = error.retry_after if isinstance(error, ProviderError) else None
        if retry_after is not None and retry_after >= 0:
            return self.server_delay(retry_after)
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2.0 ** (attempt - 1))
        return ceiling * self.jitter()


class RetryingProvider:
    """A `Provider` that retries another one according to a `RetryPolicy`."""

    def __init__(
        self,
        inner: Provider,
        policy: RetryPolicy,
        *,
        on_retry: RetryListener | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        deadline: Deadline | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.policy = policy
        self.on_retry = on_retry
        self.sleep = sleep
        self.clock = clock
        self.deadline = deadline or Deadline.never()

    def complete(self, request: LLMRequest) -> LLMResponse:
        started = self.clock()
        attempt = 1
        while True:
            self.deadline.check()
            try:
                return self.inner.complete(request)
            except ProviderError as error:
                elapsed = self.clock() - started
                if not self.policy.should_retry(error, attempt, elapsed):
                    raise
                delay = min(
                    self.policy.retry_delay(error, attempt),
                    self.policy.max_total_seconds - elapsed,
                )
                left = self.deadline.remaining()
                if delay >= left:
                    log.warning(
                        "%s call failed (%s, attempt %d/%d); not retrying: the wait (%.2f s) "
                        "would not end before the job's time limit (%.2f s left)",
                        self.name,
                        error.code,
                        attempt,
                        self.policy.max_attempts,
                        delay,
                        left,
                    )
                    raise
                log.warning(
                    "%s call failed (%s, attempt %d/%d); retrying in %.2f s",
                    self.name,
                    error.code,
                    attempt,
                    self.policy.max_attempts,
                    delay,
                )
                if self.on_retry is not None:
                    self.on_retry(delay, error)
                self.sleep(delay)
                attempt += 1
