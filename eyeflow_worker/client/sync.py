"""`EyeflowClient`: the gateway's public API over a blocking httpx client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx

from eyeflow_worker.client import calls
from eyeflow_worker.client.boundary import Where, checked, network_error
from eyeflow_worker.client.errors import EyeflowError
from eyeflow_worker.client.models import (
    Accepted,
    BatchItem,
    BatchMode,
    BatchPage,
    ItemStatus,
    RetriedTask,
    Task,
)
from eyeflow_worker.client.polling import WaitPlan
from eyeflow_worker.client.settings import ClientSettings

T = TypeVar("T")


class EyeflowClient:
    """One method per route, answering typed models; every failure is an `EyeflowError`.

    >>> with EyeflowClient("http://127.0.0.1:8000", token=..., tenant="acme") as client:
    ...     task = client.wait(client.submit_generate("Alert when CPU > 90%").task_id, 60)
    ...     rules = task.rules_result().workflow_rules
    """

    def __init__(
        self,
        url: str = ClientSettings.url,
        *,
        token: str | None = None,
        tenant: str = ClientSettings.tenant,
        timeout: float = ClientSettings.timeout,
        user_agent: str = ClientSettings.user_agent,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = ClientSettings(url, token, tenant, timeout, user_agent)
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.settings.base_url,
            headers=self.settings.headers(),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"EyeflowClient({self.settings.url!r}, tenant={self.settings.tenant!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EyeflowClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- submissions (202: a task id at once) ---------------------------------------------

    def submit_generate(
        self,
        intent: str,
        *,
        aggregated_context: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        return self._run(
            calls.submit_generate(
                intent,
                aggregated_context=aggregated_context,
                webhook_url=webhook_url,
                idempotency_key=idempotency_key,
            )
        )

    def submit_batch(
        self,
        intents: list[str],
        *,
        mode: BatchMode | None = None,
        deadline: float | None = None,
        aggregated_context: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        return self._run(
            calls.submit_batch(
                intents,
                mode=mode,
                deadline=deadline,
                aggregated_context=aggregated_context,
                webhook_url=webhook_url,
                idempotency_key=idempotency_key,
            )
        )

    def submit_refine(
        self,
        current_rules: Mapping[str, Any],
        feedback: str,
        *,
        aggregated_context: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        return self._run(
            calls.submit_refine(
                current_rules,
                feedback,
                aggregated_context=aggregated_context,
                webhook_url=webhook_url,
                idempotency_key=idempotency_key,
            )
        )

    def submit_evaluate(
        self,
        condition: str,
        context: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        return self._run(
            calls.submit_evaluate(
                condition, context, webhook_url=webhook_url, idempotency_key=idempotency_key
            )
        )

    # --- reading, waiting, paging, cancelling ---------------------------------------------

    def get_task(self, task_id: str, *, wait: float | None = None) -> Task:
        """The task; with `wait`, the gateway holds the answer up to that many seconds (≤ 60)
        for the job to end."""
        return self._run(calls.get_task(task_id, wait=wait))

    def wait(self, task_id: str, timeout: float | None = 60.0) -> Task:
        """The task once it has ended, or as it stands when `timeout` seconds have passed
        (None: no limit) — check `task.done`. Polls are long-polls (`polling.py`); 429, 5xx and
        network errors are retried until the deadline, anything else is raised."""
        plan = WaitPlan(timeout, self._clock)
        while True:
            hold = plan.hold()
            started = self._clock()
            try:
                task = self.get_task(task_id, wait=hold)
            except EyeflowError as error:
                pause = plan.pause_after_error(error)
                if pause is None:
                    raise
                self._sleep(pause)
                continue
            if task.done or plan.expired():
                return task
            self._sleep(plan.pause_after_answer(hold, self._clock() - started))

    def results_page(
        self,
        task_id: str,
        *,
        offset: int = 0,
        limit: int = calls.MAX_PAGE_SIZE,
        status: ItemStatus | None = None,
    ) -> BatchPage:
        return self._run(calls.results_page(task_id, offset=offset, limit=limit, status=status))

    def iter_results(
        self,
        task_id: str,
        *,
        status: ItemStatus | None = None,
        offset: int = 0,
        page_size: int = calls.MAX_PAGE_SIZE,
    ) -> Iterator[BatchItem]:
        """A batch's items in submission order (only those with `status`, when given), a page
        at a time: a batch of thousands is never held in memory whole."""
        next_offset: int | None = offset
        while next_offset is not None:
            page = self.results_page(task_id, offset=next_offset, limit=page_size, status=status)
            yield from page.items
            next_offset = page.next_offset

    def cancel(self, task_id: str) -> Task:
        """Cancel a queued or running job (a batch: every unfinished item). A job that already
        ended is a `Conflict` whose `task` is the job as it ended."""
        return self._run(calls.cancel(task_id))

    def retry(self, task_id: str) -> RetriedTask:
        """Re-queue the failed items of a finished batch (`Conflict` while it runs)."""
        return self._run(calls.retry(task_id))

    # --- the boundary ---------------------------------------------------------------------

    def _run(self, call: calls.Call[T]) -> T:
        where = Where(self.settings.url, self.settings.tenant, call.what)
        failure: EyeflowError | None = None
        try:
            response = self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                headers=call.headers,
                timeout=self.settings.timeout + call.hold,
            )
        except httpx.HTTPError as error:
            failure = network_error(error, where)
        if failure is not None:
            # Raised outside the `except`: the httpx error (whose request holds the
            # Authorization header) is not kept as the context of what the caller catches.
            raise failure
        return call.read(checked(response, where, self.settings.redactor))
