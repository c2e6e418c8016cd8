"""No countdown the fleet sends reaches the visibility timeout — it stays a backstop.

On the Redis broker a countdown's message is delivered at once and sits unacked in a worker
until due, then runs (up to the task time limit) before it is acked. Were that longer than
VISIBILITY_TIMEOUT_SECONDS, kombu's restore sweep would put the message back while the first
worker still holds it, and the job would run twice. So for every countdown in the code,
`its longest wait + TASK_TIME_LIMIT_SECONDS < VISIBILITY_TIMEOUT_SECONDS` with the default
settings; and a job's own run (its soft deadline, its provider retries) stays inside the time
limit. (On RabbitMQ countdowns wait in the broker — native delayed delivery — and none of this
holds a message in a worker.)

`SITES` names every place that sends a countdown or an ETA; the scan below checks it names
them all, so a new one cannot slip in without its bound being checked here.
"""

from __future__ import annotations

import ast
import inspect
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from eyeflow_worker.core.celery_factory import TRANSIENT_INFRA_RETRY
from eyeflow_worker.core.errors import ProviderUnavailable
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tasks import batch, economy, economy_submit
from eyeflow_worker.webhook_delivery import backoff_delay

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]
# (module path, enclosing function) of every `countdown=` / `eta=` keyword in a call.
SITES = {
    ("eyeflow_worker/tasks/webhook.py", "deliver_webhook"),
    ("eyeflow_worker/tasks/batch.py", "_try_later"),
    ("eyeflow_worker/tasks/economy.py", "poll_later"),
    ("eyeflow_worker/tasks/economy_submit.py", "submit_later"),
}
# The `eyeflow` command's progress bar has an `eta` field: an HTTP client, no Celery.
_NOT_CELERY = ("eyeflow_worker/cli",)


def _countdown_sites() -> Iterator[tuple[str, str]]:
    for path in sorted([*ROOT.glob("eyeflow_worker/**/*.py"), *ROOT.glob("api_gateway/**/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(_NOT_CELERY):
            continue
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and any(
                    keyword.arg in ("countdown", "eta") for keyword in node.keywords
                ):
                    yield relative, function.name


def test_every_countdown_in_the_code_is_one_this_module_bounds() -> None:
    assert set(_countdown_sites()) == SITES


def _fits(longest_wait: float) -> None:
    """A message held `longest_wait` seconds, then run to the time limit, is acked before the
    visibility timeout."""
    assert longest_wait > 0
    assert longest_wait + DEFAULTS.task_time_limit_seconds < DEFAULTS.visibility_timeout_seconds


def test_a_webhook_retry_waits_less_than_the_visibility_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the jitter's worst case
    attempts = range(1, DEFAULTS.webhook_max_attempts + 1)
    _fits(max(backoff_delay(n, DEFAULTS.webhook_backoff_base_seconds) for n in attempts))
    # Whatever the settings, one back-off never exceeds the function's cap.
    cap = inspect.signature(backoff_delay).parameters["cap_seconds"].default
    assert backoff_delay(60, 3600.0) <= cap
    _fits(cap)


def test_a_batch_items_retry_waits_less_than_the_visibility_timeout() -> None:
    # A server's retry-after of a day is cut to the cap, and so is the 10th doubling.
    patient = ProviderUnavailable("overloaded", retry_after=86400.0)
    assert batch._wait_seconds(patient, retries=3) == batch._WAIT_MAX_SECONDS
    assert batch._wait_seconds(ProviderUnavailable("down"), retries=50) == batch._WAIT_MAX_SECONDS
    _fits(batch._WAIT_MAX_SECONDS)


def test_economy_polls_and_submits_wait_less_than_the_visibility_timeout() -> None:
    # Both waits are `min(POLL_MAX_SECONDS, …)`.
    assert "min(POLL_MAX_SECONDS" in inspect.getsource(economy.poll_later)
    assert "min(POLL_MAX_SECONDS" in inspect.getsource(economy_submit._submit_once)
    _fits(economy_submit.POLL_MAX_SECONDS)


def test_celerys_infrastructure_retry_waits_less_than_the_visibility_timeout() -> None:
    _fits(float(TRANSIENT_INFRA_RETRY["retry_backoff_max"]))


def test_a_running_job_acks_before_the_visibility_timeout() -> None:
    # A job holds its message unacked while it runs: its soft deadline (no provider call starts
    # past it) and its retry budget sit inside the hard limit, itself below the timeout.
    assert DEFAULTS.task_soft_time_limit_seconds < DEFAULTS.task_time_limit_seconds
    assert DEFAULTS.llm_retry_max_total_seconds < DEFAULTS.task_soft_time_limit_seconds
    assert DEFAULTS.task_time_limit_seconds < DEFAULTS.visibility_timeout_seconds
