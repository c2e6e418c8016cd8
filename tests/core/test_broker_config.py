"""What `celeryconfig` tells Celery on each broker: RabbitMQ gets quorum queues on topic
exchanges, native delayed delivery, publisher confirms and no Redis-only option; Redis keeps
what it had, with kombu's unacked restore set on purpose; both get the soft shutdown."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from kombu.utils.imports import symbol_by_name

from celeryconfig import celery_config
from eyeflow_worker.core.broker import broker_kind
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.lost_items import broker_client
from eyeflow_worker.core.routing import all_queues
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.worker_consumer import Consumer, DelayedDelivery

AMQP = "amqp://guest:guest@127.0.0.1:5672/eyeflow"
_REDIS_ONLY = {"visibility_timeout", "unacked_restore_limit", "socket_timeout", "retry_on_timeout"}


def _settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:6379/0", "redis"),
        ("rediss://cache.example.com:6380/1", "redis"),
        ("unix:///run/redis.sock", "redis"),
        ("redis+sentinel://s1:26379,s2:26379/mymaster/0", "redis"),
        (AMQP, "amqp"),
        ("amqps://u:p@mq.example.com:5671/v", "amqp"),
        ("pyamqp://guest@localhost//", "amqp"),
        ("sentinel://127.0.0.1:26379", "other"),
        ("memory://", "other"),
    ],
)
def test_broker_kind_reads_the_scheme(url: str, kind: str) -> None:
    assert broker_kind(url) == kind


def test_on_rabbitmq_every_queue_is_quorum_on_a_topic_exchange() -> None:
    config = celery_config(_settings(broker_url=AMQP))
    queues = {queue.name: queue for queue in config["task_queues"]}
    assert set(queues) == set(all_queues(_settings()))
    for name, queue in queues.items():
        assert queue.queue_arguments == {"x-queue-type": "quorum"}
        # Native delayed delivery routes a countdown back by topic binding; never direct.
        assert (queue.exchange.name, queue.exchange.type) == (name, "topic")
        assert queue.routing_key == name
    assert config["task_default_queue_type"] == "quorum"
    assert config["task_create_missing_queue_type"] == "quorum"
    assert config["task_create_missing_queue_exchange_type"] == "topic"
    assert config["broker_native_delayed_delivery_queue_type"] == "quorum"
    assert config["worker_detect_quorum_queues"] is True
    # py-amqp takes the transport options as connection arguments: none of Redis's.
    assert config["broker_transport_options"] == {"confirm_publish": True}
    assert config["broker_heartbeat"] == 30.0


def test_classic_queues_on_rabbitmq_when_asked() -> None:
    config = celery_config(_settings(broker_url=AMQP, broker_queue_type="classic"))
    assert {q.queue_arguments["x-queue-type"] for q in config["task_queues"]} == {"classic"}


def test_on_redis_the_queues_and_transport_are_as_before_with_the_restore_tuned() -> None:
    settings = _settings()
    config = celery_config(settings)
    for queue in config["task_queues"]:
        assert queue.queue_arguments is None
        assert (queue.exchange.name, queue.exchange.type) == (queue.name, "direct")
    assert "task_default_queue_type" not in config
    assert "broker_native_delayed_delivery_queue_type" not in config
    options = config["broker_transport_options"]
    assert options["visibility_timeout"] == settings.visibility_timeout_seconds
    # A sweep every 10 s per worker, at most 100 messages each, its mutex freed within 30 s.
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] == 10
    assert options["unacked_restore_limit"] == 100
    assert options["unacked_mutex_expire"] == 30
    assert set(options) >= _REDIS_ONLY


@pytest.mark.parametrize("broker_url", [None, AMQP])
def test_a_graceful_stop_is_a_soft_shutdown_on_either_broker(broker_url: str | None) -> None:
    config = celery_config(_settings(broker_url=broker_url))
    assert config["worker_soft_shutdown_timeout"] == 20.0
    assert config["worker_enable_soft_shutdown_on_idle"] is True
    consumer = symbol_by_name(config["worker_consumer"])
    assert consumer is Consumer
    # Its blueprint declares every queue before binding them for delayed delivery.
    steps = consumer.Blueprint.default_steps
    assert "eyeflow_worker.core.worker_consumer:DelayedDelivery" in steps
    assert "celery.worker.consumer.delayed_delivery:DelayedDelivery" not in steps
    celery_step = symbol_by_name("celery.worker.consumer.delayed_delivery:DelayedDelivery")
    assert issubclass(DelayedDelivery, celery_step)


def test_no_soft_wait_when_it_is_turned_off() -> None:
    config = celery_config(_settings(worker_soft_shutdown_seconds=0))
    assert config["worker_soft_shutdown_timeout"] == 0
    assert config["worker_enable_soft_shutdown_on_idle"] is False


def test_on_rabbitmq_countdowns_are_sent_in_whole_seconds_rounded_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(Celery, "send_task", lambda self, name, *a, **options: sent.append(options))
    app = create_celery_app(_settings(broker_url=AMQP), include_tasks=False)
    app.send_task("eyeflow.webhook.deliver", args=["j"], countdown=0.3)
    app.send_task("eyeflow.webhook.deliver", args=["j"], countdown=1.7)
    app.send_task("eyeflow.webhook.deliver", args=["j"], countdown=5)
    app.send_task("eyeflow.webhook.deliver", args=["j"])
    assert [options.get("countdown") for options in sent] == [1, 2, 5, None]
    # On Redis they are sent as they are.
    sent.clear()
    create_celery_app(_settings(), include_tasks=False).send_task("x", countdown=0.3)
    assert sent[0]["countdown"] == 0.3


def test_every_send_ignores_the_result_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The record is the result: no sender subscribes to a Celery result channel it never reads.
    assert celery_config(_settings())["task_ignore_result"] is True
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(Celery, "send_task", lambda self, name, *a, **options: sent.append(options))
    for broker in (None, AMQP):
        app = create_celery_app(_settings(broker_url=broker), include_tasks=False)
        app.send_task("eyeflow.webhook.deliver", args=["j"])
        app.send_task("eyeflow.webhook.deliver", args=["j"], ignore_result=False)
    assert [options["ignore_result"] for options in sent] == [True, False, True, False]


def test_lost_message_scanning_is_for_the_redis_broker_only() -> None:
    assert broker_client(_settings(broker_url=AMQP)) is None
    assert broker_client(_settings()) is not None
