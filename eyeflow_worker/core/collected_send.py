"""A Celery send whose final Redis commands are kept instead of run, so that the script writing
a new job's record also enqueues its message: one round trip, record and message all or nothing.

Only on the Redis broker, and only when it is the records' own Redis (`collects_sends`).
kombu's Redis transport (5.7) builds every message completely before its last step: a publish
inside `Producer.batch()` hands the final commands — `lpush(queue key, payload)` for the task,
`publish(topic, payload)` for Celery's `task-sent` event — to the channel's publish batch
(`kombu.transport.redis.PublishBatch`), which runs them in a pipeline. `_Collector` speaks the
same protocol and keeps them. Everything before that is Celery's `send_task` and kombu's own
code (routing, headers, serialisation, the queue key for the message's priority, the event), so
what the script pushes is exactly what `send_task` would have pushed; a test compares the two.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from celery import Celery
from kombu.messaging import Producer

from eyeflow_worker.core.broker import broker_kind
from eyeflow_worker.core.settings import Settings

Operation = Literal["lpush", "publish", "pexpire"]
_OPERATIONS: frozenset[str] = frozenset(get_args(Operation))


@dataclass(frozen=True)
class BrokerCommand:
    """One final Redis command of a send: `lpush` (target: the queue's list), `publish` (target:
    the event topic) or `pexpire` (a queue declared with an expiry)."""

    operation: Operation
    target: str
    value: str


def collects_sends(settings: Settings) -> bool:
    """Whether a submission's message can be written by its record's script: the broker is
    Redis and the very Redis (same URL, same database) the records live in."""
    broker = settings.effective_broker_url
    return broker_kind(broker) == "redis" and broker == settings.redis_url


class SendNotCollected(RuntimeError):
    """kombu published a message itself instead of handing it to the batch (a kombu change)."""


class _Collector:
    """kombu's publish-batch protocol, keeping the commands (`PublishBatch` runs them)."""

    def __init__(self, channel: Any, real_channel: Any) -> None:
        self.channel = channel  # kombu checks the producer's channel is the batch's
        self._real_channel = real_channel
        self.commands: list[BrokerCommand] = []

    def publish(self, message: Any, **kwargs: Any) -> Any:
        return self._real_channel.basic_publish(message, _publish_batch=self, **kwargs)

    def add(self, name: str, *args: Any) -> None:
        if name not in _OPERATIONS or len(args) != 2:
            raise SendNotCollected(f"unexpected broker command {name!r}")
        target, value = args
        self.commands.append(BrokerCommand(cast(Operation, name), _text(target), _text(value)))

    def flush(self) -> None:
        """Nothing to run: the record's script runs the commands."""

    def discard(self) -> None:
        self.commands.clear()

    def close(self) -> None:
        """Holds no connection."""


class _CollectingChannel:
    """The broker channel as the producer sees it: every publish goes to this thread's
    collector. Everything else (declaring queues and exchanges, building messages) is the real
    channel's."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._local = threading.local()

    supports_batch_publish = True

    def create_publish_batch(self, max_size: int) -> _Collector:  # noqa: ARG002 - one send
        collector = _Collector(self, self._real)
        self._local.collector = collector
        return collector

    def take_collected(self) -> list[BrokerCommand]:
        collector: _Collector | None = getattr(self._local, "collector", None)
        self._local.collector = None
        return [] if collector is None else collector.commands

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class CollectedSender:
    """`send_task` with its Redis commands returned, not run. Thread-safe: each thread collects
    its own send; the broker connection (used only to declare the queues, once) is shared."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery
        self._lock = threading.Lock()
        self._channel: _CollectingChannel | None = None
        self._producer: Producer | None = None

    def commands(
        self, task: str, *, args: list[Any], task_id: str, queue: str
    ) -> tuple[BrokerCommand, ...]:
        channel, producer = self._ready()
        channel.take_collected()  # nothing left over from a send that raised
        with producer.batch():  # type: ignore[no-untyped-call]  # kombu is untyped
            self._celery.send_task(
                task, args=args, task_id=task_id, queue=queue, retry=False, producer=producer
            )
        commands = tuple(channel.take_collected())
        if not any(command.operation == "lpush" for command in commands):
            raise SendNotCollected("the task message was not handed to the publish batch")
        return commands

    @property
    def ready(self) -> bool:
        """Connected, queues declared: `commands` does no I/O (it only builds the message)."""
        return self._producer is not None

    def prepare(self) -> None:
        """Connect to the broker and declare the queues (blocking; `commands` does it first
        otherwise)."""
        self._ready()

    def _ready(self) -> tuple[_CollectingChannel, Producer]:
        with self._lock:
            if self._channel is None or self._producer is None:
                # Lazily: the gateway starts while Redis is down, and answers 503 until it is up.
                connection = self._celery.connection_for_write()
                try:
                    # One try: Redis down is a 503 now (as the record's script would answer),
                    # not after kombu's reconnect back-off.
                    connection.ensure_connection(max_retries=0)
                    channel = _CollectingChannel(connection.default_channel)
                    producer = Producer(channel, auto_declare=False)  # type: ignore[no-untyped-call]
                    # Every queue declared now, under the lock (kombu remembers it): else a
                    # burst of first sends would each declare (a few round trips) at once, on a
                    # channel pool of 10 connections that refuses the 11th.
                    for queue in self._celery.amqp.queues.values():
                        producer.maybe_declare(queue)  # type: ignore[no-untyped-call]
                except Exception:
                    connection.release()
                    raise
                self._channel, self._producer = channel, producer
            return self._channel, self._producer

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.connection.client.release()
            self._channel = self._producer = None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
