"""The guard: per-event learn → score → decide → journal, plus the state cache around it.

Concurrency design (single writer): every mutation of account state happens on the
event loop thread, and the learn/score/decide step for one event contains no ``await``,
so two requests for the same account can interleave only *between* events, never inside
one — each event sees the effects of all earlier ones and nothing is lost. The only
awaits are store reads on a cache miss (bounded by ``store_timeout_ms``; on timeout the
configured fail mode answers) and the journal group commit after the decisions are made.

Latency design (p99 in the request path): nothing on the event loop is proportional to the
number of accounts. Dirty states are tracked in a dict as they change (no scan of the
cache); a flush tick swaps that dict out in O(1), serialises it in small chunks between
which requests are answered, and hands the bytes to a background writer thread with its
own SQLite connection (reads use another, so a cache miss never queues behind a flush).
The journal is group-committed: one ``write(2)`` per loop iteration for all requests
decided in it. Long-lived objects are moved out of the cyclic GC's reach (``gc.freeze``
each tick, decision history held as atomic tuples) because a full collection over a few
hundred thousand account objects is a pause of hundreds of milliseconds.

Memory is bounded: at most ``max_accounts`` states in memory (least recently seen are
evicted, after being written back), states idle longer than ``idle_evict_s`` (event time)
are evicted first, and each state is fixed-size apart from two tiny capped dicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


from distillguard.config import ServiceConfig, Settings
from distillguard.service.metrics import Metrics
from distillguard.engine.live import IntelEvidence, LiveEngine
from distillguard.intel.trust import TrustPolicy
from distillguard.features.stream import request_features
from distillguard.service.account_state import AccountState
from distillguard.service.policy import RANK, Inputs, PolicyHolder, decide
from distillguard.service.seed import Seed, load_seed
from distillguard.service.state import Journal, MemoryStore, StateStore, StoredAccount, open_store, read_journal

FLUSH_CHUNK = 64
COMMIT_CHUNK = 500
"""States or journal records per store transaction on the writer thread."""
"""States serialised per slice of a flush before the loop answers requests again (~1 ms)."""


class StoreTimeout(Exception):
    """A store read took longer than ``store_timeout_ms``."""


class Guard:
    """Owns the online state; the HTTP app is a thin adapter over it."""

    def __init__(self, cfg: ServiceConfig, store: StateStore | None = None, settings: Settings | None = None) -> None:
        settings = settings or Settings(service=cfg)
        self.cfg = cfg
        self.store: StateStore = store if store is not None else open_store(cfg.state_path)
        in_memory = isinstance(self.store, MemoryStore) and store is None
        self.journal: Journal | None = None if in_memory else Journal(self._journal_path())
        self.policy = PolicyHolder(cfg.policy_file, cfg.policy_check_s)
        self.seed: Seed = load_seed(cfg.findings_dir, cfg.intel_matches)
        self.engine = LiveEngine(settings)
        self._seed_engine()
        self.metrics = Metrics()
        self.cache: OrderedDict[str, AccountState] = OrderedDict()
        self.evicted: dict[str, AccountState] = {}
        self.dirty: dict[str, AccountState] = {}
        self._jfut: asyncio.Future[None] | None = None
        self._gc_threshold = gc.get_threshold()
        self.known: set[str] = set()
        self.loading: dict[str, asyncio.Future[StoredAccount | None]] = {}
        self.stream_now = 0.0
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="dg-store-read")
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="dg-store-write")
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_inflight: asyncio.Future[int] | None = None
        """The periodic flush under way: shutdown waits for it rather than cancelling it."""
        self._flush_lock = asyncio.Lock()
        m = self.metrics
        m.gauge("distillguard_accounts_in_memory", "Account states held in memory.", lambda: len(self.cache))
        m.gauge("distillguard_accounts_known", "Accounts with persisted state.", lambda: len(self.known))
        m.gauge("distillguard_policy_version", "Policy reloads since start (1 = initial).", lambda: self.policy.version)
        m.gauge("distillguard_seed_accounts", "Accounts seeded from batch findings.", lambda: len(self.seed.accounts))

    def _seed_engine(self) -> None:
        """Intel matches and an accounts table configured at start feed the engine's context."""
        trust = TrustPolicy()
        self.engine.intel = {aid: IntelEvidence(trust.single_score if h.single else trust.corroborated_score,
                                                h.corroboration, h.evidence) for aid, h in self.seed.intel.items()}
        if self.cfg.accounts:
            import pyarrow.parquet as pq

            self.learn_accounts(pq.read_table(self.cfg.accounts).to_pylist())

    def _journal_path(self) -> Path:
        return Path(self.cfg.state_path + ".journal")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Replay any journal a crash left behind, then start the periodic flush."""
        loop = asyncio.get_running_loop()
        # The store thread (flush) must not hold the GIL for the default 5 ms at a time
        # while requests wait on the event loop thread.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        if self.journal is not None:
            self.journal.rotate()
            for f in self.journal.pending():
                await loop.run_in_executor(self.writer, self._commit_file, f)
        self.known = set(await loop.run_in_executor(self.executor, lambda: list(self.store.known_ids())))
        gc.collect()
        gc.freeze()  # seed, policy and imports: never garbage, never worth scanning again
        # Rarer automatic full passes: between ticks only short-lived request objects and the
        # writer's parsed journal records are allocated; each tick collects the young
        # generations and freezes the survivors, so an automatic full pass (which can fire
        # on either thread and holds the GIL throughout) buys little and stalls the loop.
        t0, t1, _ = gc.get_threshold()
        gc.set_threshold(max(t0, 5000), t1, 1000)
        self._flush_task = asyncio.create_task(self._flush_loop())

    def _commit_file(self, f: Path) -> None:
        self.store.commit([], read_journal(f))
        f.unlink()

    async def stop(self) -> None:
        """Graceful shutdown: flush every state and journal record, close the store."""
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush_task
        if self._flush_inflight is not None:
            # Cancelling it could cancel its store commit before the writer thread started it,
            # leaving a rotated journal uncommitted until the next start (replayed, not lost).
            with contextlib.suppress(Exception):
                await self._flush_inflight
        await self.flush(everything=True)
        self.executor.shutdown(wait=True)
        self.writer.shutdown(wait=True)
        gc.unfreeze()  # hand frozen objects back to the collector (embedders, tests)
        gc.set_threshold(*self._gc_threshold)
        if self.journal is not None:
            self.journal.close()
        self.store.close()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.flush_interval_s)
            self._flush_inflight = asyncio.ensure_future(self.flush())
            try:
                await asyncio.shield(self._flush_inflight)
            except Exception:  # a failing store must not kill the loop; records stay journalled
                self.metrics.requests[("flush_error", 500)] += 1

    async def flush(self, everything: bool = False) -> int:
        """Write dirty states and move journalled records into the store. Returns states written.

        On the loop: an O(1) swap of the dirty set, then serialisation in ``FLUSH_CHUNK``
        slices (each state is serialised atomically between events, so the bytes are a
        consistent snapshot). Parsing the rotated journal and the SQLite transaction run on
        the writer thread. A state changed while its flush is in flight is simply dirty
        again and goes out with the next one.
        """
        async with self._flush_lock:
            if not everything:
                # Freeze first: the states are long-lived, and a full collection triggered by
                # the allocations below would otherwise walk every one of them (~50-90 ms
                # for 20k states: the largest stall measured on the loop).
                gc.collect(1)  # young garbage (request objects) first, so no fresh cycle is frozen
                gc.freeze()
            batch, self.dirty = self.dirty, {}
            blobs: list[tuple[str, bytes]] = []
            for i, st in enumerate(batch.values()):
                blobs.append((st.account_id, st.to_blob()))
                if i % FLUSH_CHUNK == FLUSH_CHUNK - 1 and not everything:
                    await asyncio.sleep(0)  # answer queued requests between slices
            done = self.journal.rotate() if self.journal is not None else None
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self.writer, self._commit, blobs, done)
            except Exception:
                for aid, st in batch.items():
                    self.dirty.setdefault(aid, st)
                raise
            for aid, st in batch.items():
                if aid not in self.dirty:
                    st.dirty = False
                    if self.evicted.get(aid) is st:
                        del self.evicted[aid]
            self.known.update(batch)
            return len(blobs)

    def _commit(self, blobs: list[tuple[str, bytes]], done: Path | None) -> None:
        """Writer thread: commit states in bounded transactions, then the rotated journal.

        Bounded work per transaction with a short sleep between: the sqlite3 module holds
        the GIL while it binds a whole ``executemany``, and one 20k-row transaction stalled
        the event loop for up to ~100 ms (measured by bench_service's flush_stall). A crash
        between chunks is harmless: each state blob is whole, and the journal file is only
        deleted after its records are committed (replay is idempotent).
        """
        for i in range(0, len(blobs), COMMIT_CHUNK):
            self.store.commit(blobs[i:i + COMMIT_CHUNK], [])
            time.sleep(0.001)  # let the loop thread take the GIL
        records = read_journal(done) if done else []
        for i in range(0, len(records), COMMIT_CHUNK):
            self.store.commit([], records[i:i + COMMIT_CHUNK])
            time.sleep(0.001)
        if done is not None:
            done.unlink()

    # ----------------------------------------------------------------- state cache
    async def _state(self, aid: str, tier: str | None) -> AccountState:
        st = self.cache.get(aid)
        if st is not None:
            self.cache.move_to_end(aid)
            return st
        st = self.evicted.pop(aid, None)
        if st is None and aid in self.known:
            stored = await self._load(aid)
            st = self.cache.get(aid)  # another request may have loaded it meanwhile
            if st is not None:
                self.cache.move_to_end(aid)
                return st
            st = self._restore(aid, stored)
        if st is None:
            st = AccountState(aid, tier)
        self.cache[aid] = st
        self._evict()
        return st

    async def _load(self, aid: str) -> StoredAccount | None:
        fut = self.loading.get(aid)
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = asyncio.ensure_future(loop.run_in_executor(self.executor, self.store.load, aid, self.cfg.history))
            self.loading[aid] = fut
            fut.add_done_callback(lambda _f: self.loading.pop(aid, None))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.cfg.store_timeout_ms / 1000.0)
        except asyncio.TimeoutError:
            self.metrics.store_timeouts += 1
            raise StoreTimeout(aid) from None

    def _restore(self, aid: str, stored: StoredAccount | None) -> AccountState:
        if stored is None:
            return AccountState(aid)
        st = AccountState.from_blob(stored.state) if stored.state else AccountState(aid)
        if stored.decisions:
            st.history = [(d["id"], d["ts"], d["action"], d["score"]) for d in stored.decisions]
            last = stored.decisions[-1]
            if (last.get("hold_until") or 0) > st.hold_until:
                st.hold_action, st.hold_until = last["action"], last["hold_until"]
                st.action, st.score = last["action"], last["score"] or st.score
        st.override = None if stored.verdict == "reopen" else stored.verdict
        return st

    def _evict(self) -> None:
        cutoff = self.stream_now - self.cfg.idle_evict_s
        while self.cache:
            aid, st = next(iter(self.cache.items()))
            if len(self.cache) <= self.cfg.max_accounts and st.agg.last_ts >= cutoff:
                break
            self.cache.popitem(last=False)
            if st.dirty:  # stays set until a flush has committed it
                self.evicted[aid] = st  # written back by the next flush
            self.known.add(aid)

    # ----------------------------------------------------------------- decisions
    def _fail(self, ev: dict[str, Any], ts: float) -> dict[str, Any]:
        action = "allow" if self.cfg.fail_mode == "open" else self.cfg.fail_closed_action
        seed = self.seed.accounts.get(ev["account_id"])
        return {"request_id": ev["request_id"], "account_id": ev["account_id"], "action": action,
                "score": seed.score if seed else 0.0, "campaign_id": seed.campaign_id if seed else None,
                "reasons": [f"state store slower than {self.cfg.store_timeout_ms:g} ms: fail-{self.cfg.fail_mode}"],
                "_ts": ts, "_hold": 0.0}

    def _decide(self, st: AccountState, ev: dict[str, Any], ts: float) -> dict[str, Any]:
        """learn_one + score_one (the engine) + policy for one event. No awaits: atomic per account."""
        pol = self.policy.policy
        if ev.get("tier"):
            st.tier = ev["tier"]
        aid = st.account_id
        if aid not in self.engine.profiles and st.tier:
            self.engine.learn_account({"account_id": aid, "tier": st.tier})
        st.tick(ts)
        self.engine.observe(st.agg, request_features(ev, ts))
        self.dirty[aid] = st
        self.stream_now = max(self.stream_now, ts)
        ls = self.engine.score(st.agg, explain=False)
        if ls.verdict != "clear" or st.action != "allow" or st.override:
            ls = self.engine.score(st.agg)  # the evidence sentences, only where they matter
        score, own = ls.score, ls.own_score
        reasons = ls.reason_lines() if ls.verdict != "clear" else []
        # A strong live tie joins the campaign (challenged first); a weak one (network or client
        # only) adds inherited score and a reason, never the campaign's action.
        joined = ls.tie is not None and ls.tie.strong
        cid, cscore = ls.campaign_id, (ls.tie.score if joined and ls.tie else 0.0)
        seed = self.seed.accounts.get(aid)
        if seed is not None:
            s_score = seed.score if seed.verdict in pol.seed.act_on else min(seed.score, pol.seed.watch_cap)
            score = max(score, s_score)
            if seed.verdict in pol.seed.act_on:
                own = max(own, seed.score)
            reasons.append(seed.reason)
            if seed.campaign_id and not joined:
                cid, cscore = seed.campaign_id, seed.campaign_score
        hit = self.seed.intel.get(aid)
        corr = hit.corroboration if hit is not None and hit.corroboration >= pol.intel.corroborated_orgs else 0.0
        if hit is not None and not corr:
            reasons.append(f"intel: single-member signal (review opened, never acts alone): {hit.evidence}")
        confirmed = bool(cid and cid in self.engine.confirmed)
        x = Inputs(aid, score, st.n, st.tier, st.r_min, cid, cscore, joined, corr, st.override,
                   st.hold_action, ts < st.hold_until, own, confirmed)
        action, why = decide(pol, x, self.policy.allowed)
        reasons = why + reasons
        if action != "allow" and st.override is None and (RANK[action] > RANK[st.hold_action] or ts >= st.hold_until):
            st.hold_action, st.hold_until = action, ts + pol.hold.seconds
        st.flagged = ls.verdict == "flag"
        st.campaign_id = cid
        st.score, st.action = score, action
        st.history.append((ev["request_id"], ts, action, score))  # atomic tuple: untracked by the GC
        if len(st.history) > self.cfg.history:
            del st.history[0]
        return {"request_id": ev["request_id"], "account_id": aid, "action": action, "score": round(score, 4),
                "verdict": ls.verdict, "campaign_id": cid, "reasons": reasons, "_ts": ts, "_hold": st.hold_until}

    def learn_accounts(self, records: list[dict[str, Any]]) -> int:
        """The accounts feed (POST /v1/accounts, or a table at start): identity facts for linking."""
        for r in records:
            self.engine.learn_account(r)
        return len(records)

    async def process(self, events: list[tuple[dict[str, Any], float]]) -> list[dict[str, Any]]:
        """Decide every event of one request; journal them before returning."""
        self.policy.maybe_reload()
        out = []
        for ev, ts in events:
            try:
                st = await self._state(ev["account_id"], ev.get("tier"))
            except StoreTimeout:
                out.append(self._fail(ev, ts))
                continue
            out.append(self._decide(st, ev, ts))
        now = time.time()
        self.metrics.events += len(out)
        for d in out:
            self.metrics.decisions[d["action"]] += 1
        if self.journal is not None:
            self.journal.buffer([{"id": d["request_id"], "account_id": d["account_id"], "ts": d.pop("_ts"),
                                  "action": d["action"], "score": d["score"], "campaign_id": d["campaign_id"],
                                  "reasons": d["reasons"], "hold_until": d.pop("_hold"), "decided_at": now} for d in out])
            await self._group_commit()
        else:
            for d in out:
                d.pop("_ts"), d.pop("_hold")
        return out

    def _group_commit(self) -> asyncio.Future[None]:
        """A future resolved once the journal group holding this request is written.

        The first request of a loop iteration schedules one write for the end of the
        iteration; every request decided until then joins it (one syscall for all).
        """
        fut = self._jfut
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = self._jfut = loop.create_future()
            loop.call_soon(self._write_group)
        return fut

    def _write_group(self) -> None:
        fut, self._jfut = self._jfut, None
        if fut is None:
            return
        try:
            assert self.journal is not None
            self.journal.write_pending()
        except Exception as e:  # noqa: BLE001 - surfaced to every request of the group as a 500
            if not fut.done():
                fut.set_exception(e)
            return
        if not fut.done():
            fut.set_result(None)

    async def feedback(self, account_id: str, verdict: str, analyst: str | None, note: str | None) -> dict[str, Any]:
        """Record an analyst verdict durably (journal) and apply it to the account now."""
        try:
            st = await self._state(account_id, None)
        except StoreTimeout:
            st = None
        now = time.time()
        rec = {"kind": "feedback", "id": f"fb-{account_id}-{now:.6f}", "account_id": account_id, "verdict": verdict,
               "analyst": analyst, "note": note, "at": now}
        if self.journal is not None:
            self.journal.append([rec])
        else:
            await asyncio.get_running_loop().run_in_executor(self.writer, self.store.commit, [], [rec])
        if st is not None:
            # "reopen" (the console reopened the case) lifts the override: live evidence decides again
            st.override = None if verdict == "reopen" else verdict
            st.dirty = True
            self.dirty[account_id] = st
            if verdict == "false_positive":
                st.hold_action, st.hold_until = "allow", 0.0
                self.engine.forget(account_id)
            elif verdict == "confirmed":
                self.engine.confirm(account_id)
        return {"account_id": account_id, "verdict": verdict, "applied": st is not None, "at": now}

    async def account(self, aid: str) -> dict[str, Any] | None:
        """Current risk, signals and recent decisions of one account (None if never seen)."""
        if aid not in self.cache and aid not in self.evicted and aid not in self.known:
            seed = self.seed.accounts.get(aid)
            if seed is None:
                return None
        st = await self._state(aid, None)
        ls = self.engine.score(st.agg)
        seed = self.seed.accounts.get(aid)
        return {
            "account_id": aid, "score": round(st.score, 4), "action": st.action, "events": st.n, "tier": st.tier,
            "signals": {k: round(v, 4) for k, v in ls.signals.items()}, "online_score": round(ls.score, 4),
            "verdict": ls.verdict, "values": {k: v for k, v in ls.values.items() if isinstance(v, (int, float))},
            "reasons": ls.reason_lines(top=6),
            "campaign_id": st.campaign_id or (seed.campaign_id if seed else None),
            "seed": seed.reason if seed else None, "override": st.override,
            "hold": {"action": st.hold_action, "until": st.hold_until} if st.hold_until else None,
            "history": [{"request_id": r, "ts": t, "action": a, "score": s} for r, t, a, s in st.history],
        }

    async def current_action(self, aid: str) -> str:
        """The account's latest decided action, for output protection (``POST /v1/protect``).

        Accounts never seen (or seen only in the store and unreadable) count as ``allow``;
        a false-positive verdict always means ``allow``."""
        st = self.cache.get(aid) or self.evicted.get(aid)
        if st is None and aid in self.known:
            st = await self._state(aid, None)
        if st is None or st.override == "false_positive":
            return "allow"
        return st.action

    def reload(self) -> dict[str, Any]:
        """Re-read the policy and the seed files (POST /v1/admin/reload)."""
        ok = self.policy.reload()
        self.seed = load_seed(self.cfg.findings_dir, self.cfg.intel_matches)
        self._seed_engine()
        return {"policy_version": self.policy.version, "policy_ok": ok, "policy_error": self.policy.last_error,
                "seed": self.seed.source}
