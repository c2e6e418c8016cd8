"""A Redis lock for "only one process fetches this; the others wait for its result".

`SET key token NX PX ttl` takes the lock; the holder releases it with a compare-and-delete so
it can never drop a lock that expired and was taken by someone else. The TTL bounds how long a
crashed holder can block the others.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis

# Delete the key only if it still holds our token.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLock:
    def __init__(self, client: redis.Redis, key: str, ttl_seconds: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl_seconds * 1000))

    def try_acquire(self) -> str | None:
        """A token when we now hold the lock, None when someone else does."""
        token = secrets.token_hex(16)
        if self.client.set(self.key, token, nx=True, px=self.ttl_ms):
            return token
        return None

    def release(self, token: str) -> bool:
        return bool(self.client.eval(_RELEASE, 1, self.key, token))

    def is_held(self) -> bool:
        return bool(self.client.exists(self.key))

    @contextmanager
    def holding(self, token: str) -> Iterator[None]:
        try:
            yield
        finally:
            self.release(token)
