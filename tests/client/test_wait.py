"""`wait`: long-polls with `?wait=` while the gateway holds them, backs off when it answers at
once, retries what is worth retrying until the deadline, and answers the task as it stands."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from eyeflow_worker.client import NotFound, Unavailable
from tests.client.stubs import TASK_ID, FakeClock, async_client, client, rules_result, task


class Gateway:
    """Answers `statuses` in turn; a poll with `?wait=S` is held S seconds (on the fake clock)
    unless `holds` is False; an int in `statuses` is that HTTP error."""

    def __init__(self, clock: FakeClock, statuses: list[str | int], *, holds: bool = True) -> None:
        self.clock = clock
        self.statuses = statuses
        self.holds = holds
        self.waits: list[float | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        wait = request.url.params.get("wait")
        self.waits.append(None if wait is None else float(wait))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(status, int):
            return httpx.Response(
                status, json={"detail": "Broker unavailable"}, headers={"Retry-After": "3"}
            )
        done = status == "succeeded"
        if wait is not None and self.holds and not done:
            self.clock.now += float(wait)
        body = task(status=status, result=rules_result() if done else None)
        return httpx.Response(200 if done else 202, json=body)


def _wait(gateway: Gateway, clock: FakeClock, timeout: float | None) -> str:
    c = client(gateway, clock=clock, sleep=clock.sleep)
    return c.wait(TASK_ID, timeout=timeout).status


def test_a_holding_gateway_is_long_polled_with_no_sleep_between() -> None:
    clock = FakeClock()
    gateway = Gateway(clock, ["queued", "running", "succeeded"])

    assert _wait(gateway, clock, timeout=150) == "succeeded"
    # 60 s holds (the gateway's cap), then what is left.
    assert gateway.waits == [60.0, 60.0, 30.0]
    assert clock.slept == [0.0, 0.0]


def test_a_gateway_that_answers_at_once_is_polled_with_a_growing_backoff() -> None:
    clock = FakeClock()
    gateway = Gateway(clock, ["running"] * 7 + ["succeeded"], holds=False)

    assert _wait(gateway, clock, timeout=60) == "succeeded"
    assert clock.slept == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_past_the_deadline_the_task_comes_back_as_it_stands() -> None:
    clock = FakeClock()
    gateway = Gateway(clock, ["running"])

    assert _wait(gateway, clock, timeout=5) == "running"
    assert gateway.waits == [5.0]


def test_timeout_zero_is_one_plain_read() -> None:
    clock = FakeClock()
    gateway = Gateway(clock, ["running"])

    assert _wait(gateway, clock, timeout=0) == "running"
    assert gateway.waits == [None]


def test_a_503_is_retried_after_its_retry_after() -> None:
    clock = FakeClock()
    gateway = Gateway(clock, [503, 503, "succeeded"])

    assert _wait(gateway, clock, timeout=30) == "succeeded"
    assert clock.slept == [3.0, 3.0]


def test_a_503_past_the_deadline_is_raised() -> None:
    clock = FakeClock()
    gateway = Gateway(clock, [503])

    with pytest.raises(Unavailable):
        _wait(gateway, clock, timeout=5)
    assert clock.slept == [3.0, 2.0]  # the last pause is clipped to the deadline


def test_a_404_is_raised_at_once() -> None:
    clock = FakeClock()
    c = client(
        lambda _r: httpx.Response(404, json={"detail": "Task not found"}),
        clock=clock,
        sleep=clock.sleep,
    )

    with pytest.raises(NotFound):
        c.wait(TASK_ID, timeout=30)
    assert clock.slept == []


def test_the_async_client_waits_the_same_way() -> None:
    clock = FakeClock()
    gateway = Gateway(clock, ["queued", "running"] + ["running"] * 2 + ["succeeded"])
    gateway.holds = False

    async def run() -> str:
        async with async_client(gateway, clock=clock, sleep=clock.async_sleep) as c:
            return (await c.wait(TASK_ID, timeout=60)).status

    assert asyncio.run(run()) == "succeeded"
    assert clock.slept == [0.25, 0.5, 1.0, 2.0]


def test_a_held_poll_gets_the_hold_added_to_its_read_timeout() -> None:
    timeouts: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json=task(status="succeeded", result=rules_result()))

    c = client(handle, timeout=10.0)
    c.get_task(TASK_ID, wait=25)
    c.get_task(TASK_ID)

    assert timeouts == [35.0, 10.0]
