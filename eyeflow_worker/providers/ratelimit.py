"""A fleet-wide budget and cooldown per provider account, shared through Redis, that learns the
account's limits from the provider's own answers.

Every worker thread and process that calls the same account (provider, API key, URL) draws from
one budget, so a batch running on many workers does not trip the provider's 429s together.

- Budget: GCRA (the token bucket as one timestamp). `Rate(n, per_seconds)` admits a burst of
  `n` and then one request every `per_seconds / n` — the refilling bucket providers describe.
  A caller *reserves* its slot in one Lua script (atomic across processes) and then sleeps the
  exact wait the script computed; callers are served in arrival order, without polling.
  The configured `Rate` is a cap: with `learning`, the budget is the slowest of the cap, the
  learned limit and the adaptive rate (the rules are in `ratelimit_scripts.py`):
  - learned (the answers' rate-limit headers, success or error): the request limit per minute,
    paced at `HEADROOM`, each bucket synced to the server's `remaining` (never loosened by it);
    token limits get a bucket per dimension, a call reserving its estimated tokens
    (`TokenCost`) before and settling the actual usage after (`feedback`);
  - first contact: with nothing learned, one probe call goes first and the others wait for its
    answer (at most `PROBE_WAIT_SECONDS`);
  - adaptive (an account that states no limits): no budget until a 429; then half the measured
    send rate, halved again on further 429s, raised ×`ADAPTIVE_UP` per 10 s of successes.
  What was learned expires `LEARN_TTL_SECONDS` after the last answer (a tier upgrade shows).
- Cooldown: when the provider answers 429/529 with a retry-after, `cool_down(seconds)` records
  "nobody sends before T" for the account, so the whole fleet honours the server's wait, and
  empties the bucket at T (the fleet comes back at the sustained rate, not as one burst).
- A wait longer than `max_wait_seconds` is not taken: `acquire` raises `ProviderRateLimited`
  (retryable, `retry_after` = the wait) without reserving anything.
- Time is Redis's own clock (`TIME` inside the scripts), so hosts with skewed clocks agree;
  tests inject a clock. Keys hold SHA-256 digests, never an API key or a URL.
- Redis trouble never stops a call: the limiter logs and lets it through (fail open); the
  provider's own 429s and the retry loop remain the backstop.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import redis
from pydantic import SecretStr

from eyeflow_worker.core.errors import ProviderRateLimited
from eyeflow_worker.core.llm import RateLimitObservation, RateLimitWindow
from eyeflow_worker.providers.ratelimit_scripts import (
    ACQUIRE,
    COOL_DOWN,
    FEEDBACK,
    KEY_PARTS,
    TOKEN_DIMENSIONS,
)

log = logging.getLogger(__name__)

KEY_PREFIX = "eyeflow:ratelimit"
# A server asking for more than this is clamped: one odd header must not freeze the fleet for a day.
MAX_COOLDOWN_SECONDS = 3600.0
_US = 1_000_000

# What became of a call, for `feedback`: answered, the server's 429, another HTTP error answer,
# or no answer at all (timeout, connection: nothing to learn, and the probe is released).
Outcome = Literal["ok", "limited", "error", "none"]


@dataclass(frozen=True)
class Rate:
    """`requests` per `per_seconds`, with a burst of up to `requests`."""

    requests: int
    per_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.requests <= 0 or self.per_seconds <= 0:
            raise ValueError("a rate needs a positive number of requests and a positive period")

    @property
    def interval_seconds(self) -> float:
        return self.per_seconds / self.requests


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class LimitKey:
    """The account a budget belongs to. Only digests of the key and URL reach Redis."""

    provider: str
    key_digest: str
    url_digest: str

    @classmethod
    def of(cls, provider: str, api_key: SecretStr | None, api_url: str) -> LimitKey:
        key_digest = _digest(api_key.get_secret_value()) if api_key is not None else "nokey"
        return cls(provider.lower(), key_digest, _digest(api_url.rstrip("/"))[:16])

    def redis_key(self, part: str) -> str:
        # The {hash tag} keeps both keys of an account in one cluster slot, as a script needs.
        return f"{KEY_PREFIX}:{{{self.provider}:{self.key_digest}:{self.url_digest}}}:{part}"


@dataclass(frozen=True)
class TokenCost:
    """Tokens a call takes from each token dimension (estimated before, actual after)."""

    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def counts(self) -> tuple[int, int, int]:
        return (self.tokens, self.input_tokens, self.output_tokens)


@dataclass(frozen=True)
class Ticket:
    """A reserved slot: the seconds waited for it, and the tokens it took (to settle later)."""

    waited: float
    reserved: TokenCost = TokenCost()


class RateLimiter:
    """One account's fleet-wide budget and cooldown, kept in Redis; with `learning`, also what
    the account's answers taught (`feedback`)."""

    def __init__(
        self,
        client: redis.Redis,
        key: LimitKey,
        rate: Rate | None,
        *,
        max_wait_seconds: float,
        learning: bool = False,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.rate = rate
        self.max_wait_seconds = max_wait_seconds
        self.learning = learning
        self.clock = clock  # None: Redis's clock, the one every worker shares
        self.sleep = sleep
        self._keys = [key.redis_key(part) for part in KEY_PARTS]
        self._acquire = client.register_script(ACQUIRE)
        self._cool_down = client.register_script(COOL_DOWN)
        self._feedback = client.register_script(FEEDBACK)

    def acquire(self, max_wait: float | None = None) -> float:
        """`reserve` a slot for a call of no known token cost; returns the seconds slept."""
        return self.reserve(max_wait=max_wait).waited

    def reserve(self, cost: TokenCost | None = None, max_wait: float | None = None) -> Ticket:
        """Take a slot (and `cost` from every learned token bucket), sleeping until it is due.

        Raises `ProviderRateLimited` (nothing reserved) when the wait would exceed `max_wait`
        (default `max_wait_seconds`). A cooldown recorded while we slept, ending after our slot,
        is honoured too. A wait for the first contact's probe is taken only within the bound.
        """
        bound = self.max_wait_seconds if max_wait is None else max_wait
        costs = (cost or TokenCost()).counts() if self.learning else (0, 0, 0)
        waited, slot_us, mode = 0.0, 0, "1"  # mode 1: reserve; 2: without the probe; 0: ours
        reserved = TokenCost()
        while True:
            try:
                status, wait_us, reason, slot_us, *taken = self._acquire(
                    keys=self._keys,
                    args=[
                        *self._common(),
                        _to_us(max(0.0, bound - waited)),
                        slot_us,
                        mode,
                        *costs,
                    ],
                )
            except redis.RedisError as error:
                log.warning(
                    "rate limiter unavailable for %s (%s); not limiting", self.key.provider, error
                )
                return Ticket(waited, reserved)
            wait = max(0.0, int(wait_us) / _US)
            if status == 2:  # the first contact's probe is out: wait for its answer, briefly
                if waited + wait > bound:
                    mode = "2"
                    continue
            elif not status:
                raise self._refusal(_text(reason), wait, bound, taken)
            elif mode != "0":
                reserved = TokenCost(*(int(count) for count in taken[:3]))
                mode = "0"  # the slot is ours now; only a cooldown set while we slept holds us
                if wait <= 0:
                    return Ticket(waited, reserved)
            elif wait <= 0:
                return Ticket(waited, reserved)
            log.info("%s: waiting %.2fs (%s)", self.key.provider, wait, _text(reason) or "budget")
            self.sleep(wait)
            waited += wait

    def feedback(
        self,
        ticket: Ticket,
        outcome: Outcome,
        *,
        usage: TokenCost | None = None,
        observed: RateLimitObservation | None = None,
    ) -> None:
        """After the call `ticket` was for: settle its tokens, learn from the answer."""
        if not self.learning:
            return
        actual = (usage or TokenCost()).counts()
        settle = [
            count for pair in zip(ticket.reserved.counts(), actual, strict=True) for count in pair
        ]
        try:
            learned = self._feedback(
                keys=self._keys,
                args=[*self._common(), outcome, *settle, *_observation_args(observed)],
            )
        except redis.RedisError as error:
            log.warning("could not record what %s answered (%s)", self.key.provider, error)
            return
        log.debug("%s: learned limit %s requests/min", self.key.provider, learned or "none")

    def cool_down(self, seconds: float) -> None:
        """Nobody sends to this account for `seconds` (clamped to `MAX_COOLDOWN_SECONDS`)."""
        delay = min(max(0.0, seconds), MAX_COOLDOWN_SECONDS)
        try:
            self._cool_down(keys=self._keys, args=[*self._common(), _to_us(delay)])
        except redis.RedisError as error:
            log.warning("could not record %s cooldown (%s)", self.key.provider, error)

    def _common(self) -> list[str | int]:
        """The arguments every script starts with: now, learning, the configured cap."""
        now = "" if self.clock is None else str(_to_us(self.clock()))
        if self.rate is None:
            return [now, int(self.learning), 0, 0]
        interval = max(1, _to_us(self.rate.interval_seconds))
        return [now, int(self.learning), interval, _to_us(self.rate.per_seconds)]

    def _refusal(
        self, reason: str, wait: float, bound: float, taken: list[object]
    ) -> ProviderRateLimited:
        interval_us, period_us = (int(str(value)) for value in taken[3:5])
        if reason == "cooldown":
            why = f"{self.key.provider} asked the fleet to back off;"
        elif reason in TOKEN_DIMENSIONS:
            why = f"{self.key.provider} {reason.replace('_', ' ')} budget (learned);"
        else:
            per = period_us / _US
            count = round(period_us / interval_us) if interval_us else 0
            learned = "" if reason == "cap" else f" ({reason})"
            why = f"{self.key.provider} budget of {count} per {per:g}s{learned};"
        return ProviderRateLimited(
            f"local rate limit: {why} would wait {wait:.1f}s, over the {bound:g}s bound",
            details={"provider": self.key.provider, "local": True},
            retry_after=wait,
        )


def _observation_args(observed: RateLimitObservation | None) -> list[str]:
    """limit, remaining, reset_us per dimension (requests first), "" for what was not stated."""
    windows = observed.windows() if observed is not None else {}
    args: list[str] = []
    for dimension in ("requests", *TOKEN_DIMENSIONS):
        window: RateLimitWindow | None = windows.get(dimension)
        if window is None:
            args += ["", "", ""]
            continue
        remaining = "" if window.remaining is None else str(window.remaining)
        reset = "" if window.reset_seconds is None else str(_to_us(window.reset_seconds))
        args += [str(window.limit), remaining, reset]
    return args


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _to_us(seconds: float) -> int:
    return math.ceil(seconds * _US)
