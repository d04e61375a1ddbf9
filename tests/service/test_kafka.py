"""The Kafka consumer adapter drives the real guard; the broker is an in-process stand-in.

No Kafka broker installs from PyPI/Debian/npm here, so this checks our adapter's logic only:
decode, validate, decide with the real Guard, write decisions, commit after the batch.
It is not a test of confluent-kafka or of a broker (docs/scale-out.md says so).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from distillguard.config import Settings
from distillguard.service.guard import Guard
from distillguard.service.kafka import consume

from .worlds import chat_user, harvester


class _Msg:
    def __init__(self, value: bytes, offset: int) -> None:
        self._v, self._o = value, offset

    def value(self) -> bytes:
        return self._v

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "api-events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._o


class _Topic:
    """A single-partition topic with confluent-kafka's consume/commit calls."""

    def __init__(self, values: list[bytes]) -> None:
        self.msgs = [_Msg(v, i) for i, v in enumerate(values)]
        self.pos = 0
        self.committed: list[int] = []

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[_Msg]:
        out = self.msgs[self.pos:self.pos + num_messages]
        self.pos += len(out)
        return out

    def commit(self, message: Any = None, asynchronous: bool = True) -> None:
        assert not asynchronous
        self.committed.append(message.offset())


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []
        self.flushes = 0

    def produce(self, topic: str, key: str, value: str) -> None:
        self.sent.append((topic, key, json.loads(value)))

    def flush(self) -> None:
        self.flushes += 1


def test_consumer_decides_every_event_and_commits_after_each_batch() -> None:
    evs = sorted(harvester("h", 400) + chat_user("u", 40), key=lambda e: e["ts"])
    values = [json.dumps(e).encode() for e in evs] + [b"{not json", json.dumps({"account_id": "x"}).encode()]
    topic, prod = _Topic(values), _Producer()
    s = Settings()
    s.service.state_path = ":memory:"

    async def run() -> Any:
        g = Guard(s.service, None, s)
        await g.start()
        try:
            return await consume(topic, g, batch=100, producer=prod, decisions_topic="decisions", idle_polls=1)
        finally:
            await g.stop()

    summ = asyncio.run(run())
    assert summ.messages == len(values) and summ.events == len(evs)
    assert len(summ.bad) == 2 and "api-events[0]@" in summ.bad[0]
    assert topic.committed == [99, 199, 299, 399, 441]  # the last offset of each batch, in order
    assert len(prod.sent) == len(evs) and prod.flushes == summ.commits
    acts = {}
    for _, key, d in prod.sent:
        acts.setdefault(key, set()).add(d["action"])
    assert acts["h"] - {"allow"}, acts  # the harvester is acted on
    assert acts["u"] == {"allow"}
