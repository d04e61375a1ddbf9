"""Guards at scale: route each account to one of N guards, share the population context.

Why it shards by account: everything the live engine keeps *per account* (its
:class:`~distillguard.features.stream.AccountAggregate`) depends only on that account's own
events, so a consistent hash on ``account_id`` in front of N guards gives each guard a
disjoint set of accounts and the same per-account state one guard would hold. What is *not*
per account is the population context: the accounts feed (who shares a card, identity facts
for linking), the campaign index (flagged accounts, their campaigns and ties), the pooled
traffic of one operator's accounts and the flagged-content pool. That part is shared: every
guard learns the whole accounts feed, and flags are published to one campaign index that
every guard reads (:class:`SharedContext`; in production a replicated store, see
docs/scale-out.md).

Routing is rendezvous (highest-random-weight) hashing: each account goes to the guard with
the largest keyed hash of (guard, account). It needs no ring or virtual nodes, every router
computes the same answer from the guard list alone, and adding or removing one guard moves
only the accounts that go to or came from it (about 1/N of them), whose state moves with
them (``AccountAggregate.to_state`` / ``from_state``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from distillguard.engine.live import LiveEngine, LiveScore
from distillguard.features.stream import AccountAggregate


def _weight(shard: str, account_id: str) -> int:
    """A fixed 64-bit hash of (shard, account): the same in every process and on every machine."""
    h = hashlib.blake2b(f"{shard}\x00{account_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big")


def shard_of(account_id: str, shards: Sequence[str]) -> str:
    """The guard that owns ``account_id`` among ``shards`` (rendezvous hashing)."""
    if not shards:
        raise ValueError("no shards to route to")
    return max(shards, key=lambda s: (_weight(s, account_id), s))


@dataclass
class ShardRouter:
    """Routes events to guards by account; ``shards`` are guard names (or URLs)."""

    shards: list[str]

    def route(self, event: dict[str, Any]) -> str:
        return shard_of(str(event["account_id"]), self.shards)

    def split(self, events: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Events grouped per guard, keeping their order (a batch for each guard's POST /v1/events)."""
        out: dict[str, list[dict[str, Any]]] = {s: [] for s in self.shards}
        for ev in events:
            out[self.route(ev)].append(ev)
        return out

    def moved(self, accounts: Iterable[str], new_shards: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Accounts whose guard changes when the guard list becomes ``new_shards``: (old, new)."""
        out = {}
        for a in accounts:
            old, new = shard_of(a, self.shards), shard_of(a, new_shards)
            if old != new:
                out[a] = (old, new)
        return out


class SharedContext:
    """One population context (accounts feed, campaign index, operator pools, content pool)
    that N guard engines read and write, so a flag raised on one guard ties a new account
    that arrives on another. In one process the engines share these objects; across machines
    they are a replicated store (docs/scale-out.md)."""

    FIELDS = ("profiles", "cards", "links", "flagged", "confirmed", "cluster_aggs", "pool", "intel")

    def __init__(self, first: LiveEngine) -> None:
        self.owner = first

    def attach(self, engine: LiveEngine) -> LiveEngine:
        for f in self.FIELDS:
            setattr(engine, f, getattr(self.owner, f))
        return engine


@dataclass
class Guard:
    """One guard: a live engine and the aggregates of the accounts routed to it."""

    name: str
    engine: LiveEngine
    aggregates: dict[str, AccountAggregate] = field(default_factory=dict)

    def handle(self, event: dict[str, Any]) -> LiveScore:
        aid = str(event["account_id"])
        agg = self.aggregates.get(aid)
        if agg is None:
            agg = self.aggregates[aid] = AccountAggregate(aid)
        self.engine.observe(agg, event)
        return self.engine.score(agg, explain=False)


class ShardedGuards:
    """N guards behind a :class:`ShardRouter`, sharing one :class:`SharedContext`."""

    def __init__(self, shards: Sequence[str], make_engine: Any) -> None:
        first = make_engine()
        self.context = SharedContext(first)
        self.router = ShardRouter(list(shards))
        self.guards = {s: Guard(s, first if i == 0 else self.context.attach(make_engine()))
                       for i, s in enumerate(shards)}

    def learn_account(self, profile: dict[str, Any]) -> None:
        """The accounts feed goes to the shared context once (every guard sees it)."""
        self.context.owner.learn_account(profile)

    def handle(self, event: dict[str, Any]) -> LiveScore:
        return self.guards[self.router.route(event)].handle(event)

    def state(self) -> dict[str, list[Any]]:
        """Every account's aggregate state, merged from all guards (disjoint by construction)."""
        out: dict[str, list[Any]] = {}
        for g in self.guards.values():
            for aid, agg in g.aggregates.items():
                if aid in out:
                    raise RuntimeError(f"account {aid} held by two guards")
                out[aid] = agg.to_state()
        return out

    def reshard(self, new_shards: Sequence[str], make_engine: Any) -> int:
        """Change the guard list; the moved accounts' state travels with them. Returns how many moved."""
        moved = self.router.moved([a for g in self.guards.values() for a in g.aggregates], new_shards)
        kept = {s: g for s, g in self.guards.items() if s in new_shards}
        for s in new_shards:
            if s not in kept:
                kept[s] = Guard(s, self.context.attach(make_engine()))
        for aid, (old, new) in moved.items():
            st = self.guards[old].aggregates.pop(aid).to_state()
            kept[new].aggregates[aid] = AccountAggregate.from_state(st)
        self.guards, self.router = kept, ShardRouter(list(new_shards))
        return len(moved)


__all__ = ["Guard", "ShardRouter", "ShardedGuards", "SharedContext", "shard_of"]
