"""What the guard remembers about one account: the engine's aggregate plus the decision's bookkeeping.

The evidence lives in :class:`~distillguard.features.stream.AccountAggregate` (the same
per-account features the batch scan computes, fed one event at a time); this wrapper adds
only what acting needs: the current action and hold, the analyst's override, a short
decision history, a decayed per-minute rate for the tier's hard limit, and the flush flag.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from distillguard.features.stream import AccountAggregate

TAU_MIN = 60.0


class AccountState:
    __slots__ = ("account_id", "tier", "agg", "r_min", "campaign_id", "hold_action", "hold_until", "override",
                 "score", "action", "history", "dirty", "flagged")

    def __init__(self, account_id: str, tier: str | None = None) -> None:
        self.account_id = account_id
        self.tier = tier
        self.agg = AccountAggregate(account_id)
        self.r_min = 0.0
        self.campaign_id: str | None = None
        self.hold_action = "allow"
        self.hold_until = 0.0
        self.override: str | None = None
        self.score = 0.0
        self.action = "allow"
        self.history: list[tuple[Any, ...]] = []
        self.dirty = True
        self.flagged = False

    @property
    def n(self) -> int:
        return self.agg.n

    def tick(self, ts: float) -> None:
        """Decayed requests in the last minute (the tier's hard per-minute limit)."""
        dt = max(0.0, ts - self.agg.last_ts) if self.agg.n else 0.0
        self.r_min = self.r_min * math.exp(-dt / TAU_MIN) + 1.0

    def to_blob(self) -> bytes:
        return orjson.dumps([self.account_id, self.tier, self.agg.to_state(), self.r_min, self.campaign_id,
                             self.hold_action, self.hold_until, self.override, self.score, self.action, self.flagged])

    @classmethod
    def from_blob(cls, blob: bytes) -> "AccountState":
        v = orjson.loads(blob)
        if not isinstance(v, list) or len(v) != 11:
            raise ValueError("account state written by an older guard (reset the state file)")
        st = cls(v[0], v[1])
        st.agg = AccountAggregate.from_state(v[2])
        (st.r_min, st.campaign_id, st.hold_action, st.hold_until, st.override, st.score, st.action,
         st.flagged) = v[3:]
        st.dirty = False
        return st
