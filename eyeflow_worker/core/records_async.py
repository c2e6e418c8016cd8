"""What the gateway's hot path asks of the records, on its event loop (redis.asyncio): a new
job's script (`job_accept.Acceptor`, the same keys, arguments and answer as the sync call), and
reading a record. Everything else (workers, batch pages, cancels) stays on the sync `JobStore`.

Why a second client type: the submission routes run on the event loop, so that a waited job
costs no thread-pool hop in and out (about a tenth of a millisecond each way, the larger part of
what a trivial job's round trip spent beyond a hand-rolled route; `bench/README.md`). asyncio
connections belong to the loop that opened them, so the client is opened on the serving loop
(the gateway's lifespan: `open`) and closed there (`aclose`); used from any other loop, or
before `open`, it refuses with a clear error instead of failing inside redis-py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio

from eyeflow_worker.core.collected_send import BrokerCommand
from eyeflow_worker.core.job_accept import Acceptance, Acceptor, Claim, NewJob
from eyeflow_worker.core.records import RECORD_FIELDS, job_key, record_from, tenants_own
from eyeflow_worker.core.redis_client import new_async_redis
from eyeflow_worker.core.redis_urls import AsyncClient
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.submit_rate import SubmitRate


class NotOpen(RuntimeError):
    """Used before `open`, after `aclose`, or from another event loop than the one it opened on."""


class AsyncRecords:
    def __init__(self, settings: Settings, acceptor: Acceptor) -> None:
        self._settings = settings
        self._acceptor = acceptor
        self._client: AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        """Bind to the running loop (no connection yet: Redis may still be down at start-up)."""
        await self.aclose()
        self._client = new_async_redis(self._settings)
        self._loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.aclose()

    @property
    def client(self) -> redis.asyncio.Redis:
        if self._client is None or self._loop is not asyncio.get_running_loop():
            raise NotOpen(
                "the gateway's asyncio Redis client is opened by its lifespan, on the loop that "
                "serves it (run the app under uvicorn, or a TestClient in a `with` block)"
            )
        return self._client.client

    async def accept(
        self,
        job: NewJob,
        *,
        rate: SubmitRate | None = None,
        claim: Claim | None = None,
        message: Sequence[BrokerCommand] = (),
    ) -> Acceptance:
        """`JobStore.accept`, on the event loop."""
        return await self._acceptor.accept_async(
            self.client, job, rate=rate, claim=claim, message=message
        )

    async def exists(self, job_id: str) -> bool:
        return bool(await self.client.exists(job_key(job_id)))

    async def get(self, job_id: str) -> dict[str, str] | None:
        """The record without its payload (`JobStore.get`), or None when there is none."""
        return record_from(await self.client.hmget(job_key(job_id), RECORD_FIELDS))

    async def get_for_tenant(self, job_id: str, tenant: str) -> dict[str, str] | None:
        """The record, or None when it does not exist *or belongs to another tenant*."""
        return tenants_own(await self.get(job_id), tenant)
