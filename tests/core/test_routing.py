"""The one routing table: every task the workers register has a queue, Celery's routes and the
worker roles are derived from it, and every job kind is served by a registered task."""

from __future__ import annotations

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.provider_catalogue import PROVIDER_SPECS
from eyeflow_worker.core.routing import (
    JOB_TASKS,
    TASK_QUEUES,
    WORKER_QUEUES,
    celery_task_routes,
    job_route,
    queue_for,
    worker_queues,
)
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.registry import PROVIDERS
from eyeflow_worker.worker import worker_argv

SETTINGS = Settings(  # type: ignore[call-arg]
    _env_file=None,
    queue_interactive="i",
    queue_batch="b",
    queue_webhooks="w",
    queue_maintenance="m",
)


def test_every_registered_task_is_routed_and_every_routed_task_exists() -> None:
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.startswith("eyeflow.")}
    assert ours == set(TASK_QUEUES)


def test_celery_routes_and_beat_come_from_the_table() -> None:
    routes = celery_task_routes(SETTINGS)
    assert routes == {task: {"queue": queue_for(task, SETTINGS)} for task in TASK_QUEUES}
    assert routes["eyeflow.batch.item"] == {"queue": "b"}
    assert routes["eyeflow.webhook.deliver"] == {"queue": "w"}
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} <= set(TASK_QUEUES)


def test_each_kind_is_sent_to_its_task_on_its_queue() -> None:
    assert {kind: job_route(kind, SETTINGS) for kind in JOB_TASKS} == {
        "generate": ("eyeflow.generate", "i"),
        "refine": ("eyeflow.refine", "i"),
        "evaluate": ("eyeflow.evaluate", "i"),
        "batch": ("eyeflow.batch.start", "b"),
    }


def test_every_queue_has_a_worker_role_and_interactive_work_never_shares_with_batches() -> None:
    consumed = [queue for role in WORKER_QUEUES for queue in worker_queues(role, SETTINGS)]
    assert sorted(consumed) == sorted({queue_for(task, SETTINGS) for task in TASK_QUEUES})
    assert worker_queues("batch", SETTINGS) == ["b"]
    assert "b" not in worker_queues("interactive", SETTINGS)
    argv = worker_argv("interactive", SETTINGS)
    assert argv[argv.index("--queues") + 1] == "i,w,m"


def test_the_provider_registry_serves_exactly_the_catalogued_providers() -> None:
    assert set(PROVIDERS) == set(PROVIDER_SPECS)
