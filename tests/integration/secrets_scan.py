"""Reading every value a Redis database holds, and finding API keys in what the stack saw."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis


def _decoded_variants(value: str) -> list[str]:
    """`value` plus what a kombu message hides in it (a base64 body inside a JSON envelope)."""
    out = [value]
    try:
        message = json.loads(value)
    except ValueError:
        return out
    if isinstance(message, dict) and isinstance(message.get("body"), str):
        with contextlib.suppress(binascii.Error, ValueError):
            out.append(base64.b64decode(message["body"], validate=True).decode("utf-8", "replace"))
    return out


def redis_values(client: redis.Redis) -> dict[str, list[str]]:
    """Every value stored in the db, by key, read with the command its type needs."""
    found: dict[str, list[str]] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        values: list[Any]
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [part for pair in client.hgetall(key).items() for part in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [json.dumps(entry) for entry in client.xrange(key)]
        else:
            values = []
        found[key] = [v for value in values if value is not None for v in _decoded_variants(value)]
    return found


def assert_no_secret_leaked(
    secrets: Iterable[str], client: redis.Redis, responses: list[str], log_paths: list[Path]
) -> None:
    """No secret in any Redis key or value, gateway response or worker log."""
    leaks = [
        (where, secret)
        for secret in secrets
        for where, texts in (
            *((f"redis {key}", [key, *stored]) for key, stored in redis_values(client).items()),
            ("gateway responses", responses),
            *((str(path), [path.read_text(errors="replace")]) for path in log_paths),
        )
        if any(secret in text for text in texts)
    ]
    assert leaks == [], leaks
