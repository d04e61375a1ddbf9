"""The guard fed from a Kafka topic instead of HTTP (optional: ``pip install 'distillguard[kafka]'``).

Why: at a provider's volume, request logs already flow through a log bus; the guard can
consume the topic the API gateway writes (one JSON event per message, keyed by
``account_id``) instead of being called per request. Keying by account makes Kafka's own
partitioner the consistent hash of docs/scale-out.md: each partition, hence each account, is
owned by one guard of the consumer group, and the per-account state follows the partition
on a rebalance (flushed on revoke, loaded from the state store on assign).

Delivery is at least once: offsets are committed only after the batch's decisions were
made (and, with a producer, written to the decisions topic) and the guard's state was
flushed (``Guard.flush``), so a crash replays at most the uncommitted batch, whose events
then count twice in their accounts' aggregates (evidence only grows: no harvest is missed).
A message that is not a valid event is counted and skipped (its topic/partition/offset in
``bad``), never fatal.

**Not tested against a real broker**: no Kafka broker installs from the package registries
this project builds with (PyPI, Debian, npm), so the tests drive :func:`consume` with an
in-process stand-in that has confluent-kafka's ``consume``/``commit`` interface and the real
guard behind it. The stand-in checks our logic (decode, validate, decide, produce, commit
order), not the client library or the broker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from distillguard.service.schemas import check_event


class Message(Protocol):  # confluent_kafka.Message
    def value(self) -> bytes | None: ...
    def error(self) -> Any: ...
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...


class Consumer(Protocol):  # confluent_kafka.Consumer
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...
    def commit(self, message: Message | None = None, asynchronous: bool = True) -> Any: ...


@dataclass
class ConsumeSummary:
    messages: int = 0
    events: int = 0
    commits: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)


async def consume(consumer: Consumer, guard: Any, *, batch: int = 500, timeout_s: float = 1.0,
                  max_prompt_chars: int = 200_000, producer: Any = None, decisions_topic: str | None = None,
                  idle_polls: int | None = None, max_messages: int | None = None) -> ConsumeSummary:
    """Decide every event on the topic with ``guard`` (service.guard.Guard), committing after each batch.

    Stops after ``idle_polls`` empty polls in a row or ``max_messages`` messages (None: runs
    until cancelled). With ``producer`` (confluent_kafka.Producer) and ``decisions_topic``
    each decision is written there, keyed by account, before the offsets are committed.
    """
    summ = ConsumeSummary()
    idle = 0
    while max_messages is None or summ.messages < max_messages:
        msgs = consumer.consume(num_messages=batch, timeout=timeout_s)
        if not msgs:
            idle += 1
            if idle_polls is not None and idle >= idle_polls:
                break
            continue
        idle = 0
        events: list[tuple[dict[str, Any], float]] = []
        for m in msgs:
            summ.messages += 1
            where = f"{m.topic()}[{m.partition()}]@{m.offset()}"
            if m.error():
                summ.bad.append(f"{where}: {m.error()}")
                continue
            try:
                events.append(check_event(json.loads(m.value() or b""), where, max_prompt_chars))
            except (ValueError, TypeError) as e:  # bad JSON or an event the contract refuses
                summ.bad.append(f"{where}: {e}")
            except Exception as e:  # noqa: BLE001 - HTTPException from check_event: a refused event
                summ.bad.append(f"{where}: {getattr(e, 'detail', e)}")
        if events:
            out = await guard.process(events)
            for d in out:
                summ.actions[d["action"]] = summ.actions.get(d["action"], 0) + 1
                if producer is not None and decisions_topic:
                    producer.produce(decisions_topic, key=str(d.get("account_id", "")), value=json.dumps(d, default=str))
            if producer is not None:
                producer.flush()
            summ.events += len(out)
        await guard.flush()
        consumer.commit(message=msgs[-1], asynchronous=False)
        summ.commits += 1
    return summ


def kafka_consumer(bootstrap: str, topic: str, group: str, **conf: Any) -> Any:
    """A confluent-kafka consumer subscribed to ``topic`` in consumer group ``group`` (manual commits)."""
    try:
        from confluent_kafka import Consumer as KafkaConsumer
    except ImportError as e:  # pragma: no cover - optional extra
        from distillguard.errors import ConfigError

        raise ConfigError("the Kafka consumer needs confluent-kafka: pip install 'distillguard[kafka]'") from e
    c = KafkaConsumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                       "auto.offset.reset": "earliest", **conf})
    c.subscribe([topic])
    return c


__all__ = ["ConsumeSummary", "consume", "kafka_consumer"]
