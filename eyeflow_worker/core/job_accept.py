"""A new job's record, written in the submission's one round trip: the tenant's submission token
taken, the Idempotency-Key claimed and the record (and a batch's intents) written by one script
(`transitions.ACCEPT`), all or nothing. The layout of the keys is in `records.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
import redis.asyncio
from redis.commands.core import Script

from eyeflow_worker.core import transitions
from eyeflow_worker.core.collected_send import BrokerCommand
from eyeflow_worker.core.routing import Kind
from eyeflow_worker.core.submit_rate import SubmitRate, bucket_key


def utc_now() -> str:
    """The records' timestamps: ISO 8601, UTC, milliseconds, `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class NewJob:
    job_id: str
    tenant: str
    kind: Kind
    payload: Mapping[str, Any]
    webhook_url: str | None = None
    intents: tuple[str, ...] = ()
    # A batch's deadline (epoch seconds): until then its items re-try transient failures.
    deadline_at: float | None = None
    # A request waits on it (`?wait`): its done message carries its record (`transitions.ENDED`).
    waited: bool = False


@dataclass(frozen=True)
class Claim:
    """An Idempotency-Key's claim: its key and the (pending) value to set if it is free."""

    key: str
    value: str
    ttl_seconds: int


@dataclass(frozen=True)
class Acceptance:
    """`created`: the record is written (and the claim, if any, set pending); `held`: the claim
    was already there (`held_value` its value; nothing written); `rate`: over the tenant's rate
    (`retry_after` seconds until a token is there; nothing written)."""

    outcome: Literal["created", "held", "rate"]
    held_value: str | None = None
    retry_after: float | None = None


def record_fields(job: NewJob) -> dict[str, str]:
    """The record's first fields (`records.py` has the layout)."""
    fields = {
        "tenant": job.tenant,
        "kind": job.kind,
        "status": "queued",
        "created_at": utc_now(),
        "attempts": "0",
        "payload": json.dumps(job.payload, separators=(",", ":")),
    }
    if job.webhook_url:
        fields["webhook_url"] = job.webhook_url
    if job.waited:
        fields["waiter"] = "1"
    if job.kind == "batch":
        fields.update(total=str(len(job.intents)), succeeded="0", failed="0")
        if job.deadline_at is not None:
            fields["deadline_at"] = repr(job.deadline_at)
        # The requested mode (`auto` until a worker resolves it; absent: realtime).
        if isinstance(job.payload.get("mode"), str):
            fields["mode"] = job.payload["mode"]
    return fields


class Acceptor:
    """`transitions.ACCEPT`, called on the sync client (`accept`) or on an asyncio one
    (`accept_async`, the gateway's event loop): the same keys, arguments and answer."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._ttl = ttl_seconds
        self._accept = client.register_script(transitions.ACCEPT)

    def accept(
        self,
        job: NewJob,
        *,
        rate: SubmitRate | None = None,
        claim: Claim | None = None,
        message: Sequence[BrokerCommand] = (),
    ) -> Acceptance:
        """Write a new job's record in one round trip, with the tenant's submission token, the
        Idempotency-Key's claim and — given as its final broker commands (`collected_send.py`)
        — its message: all or nothing."""
        keys, args = self._call(job, rate, claim, message)
        return _acceptance(self._accept(keys=keys, args=args))

    async def accept_async(
        self,
        client: redis.asyncio.Redis,
        job: NewJob,
        *,
        rate: SubmitRate | None = None,
        claim: Claim | None = None,
        message: Sequence[BrokerCommand] = (),
    ) -> Acceptance:
        """`accept` on an asyncio client."""
        keys, args = self._call(job, rate, claim, message)
        return _acceptance(await run_script_async(client, self._accept, keys, args))

    def _call(
        self,
        job: NewJob,
        rate: SubmitRate | None,
        claim: Claim | None,
        message: Sequence[BrokerCommand],
    ) -> tuple[list[str], list[str | int | float]]:
        key = f"eyeflow:job:{job.job_id}"
        limited = rate is not None and rate.enabled
        pairs = [part for item in record_fields(job).items() for part in item]
        commands = [part for sent in message for part in (sent.operation, sent.target, sent.value)]
        args: list[str | int | float] = [
            rate.per_second if rate is not None and limited else 0,
            rate.burst if rate is not None and limited else 1,
            self._ttl,
            claim.value if claim is not None else "",
            claim.ttl_seconds if claim is not None else 0,
            len(pairs),
            len(commands),
            *pairs,
            *commands,
            *job.intents,
        ]
        # Unused keys are still named (a script declares every key it may touch).
        keys = [
            key,
            f"{key}:intents",
            bucket_key(job.tenant),
            claim.key if claim is not None else key,
            *(command.target for command in message if command.operation != "publish"),
        ]
        return keys, args


async def run_script_async(
    client: redis.asyncio.Redis, script: Script, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """A script registered on a sync client, run on an asyncio one (by its SHA, loaded first
    when that Redis does not know it — as redis-py's `Script` does)."""
    try:
        return await client.evalsha(script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        await client.script_load(script.script)
        return await client.evalsha(script.sha, len(keys), *keys, *args)


def _acceptance(answer: Any) -> Acceptance:
    outcome = str(answer[0])
    if outcome == "held":
        return Acceptance("held", held_value=str(answer[1]))
    if outcome == "rate":
        return Acceptance("rate", retry_after=int(answer[1]) / 1000.0)
    return Acceptance("created")
