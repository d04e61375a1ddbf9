"""Collective defence: does what provider A learns protect B and C, and does anything leak?

For each seed: simulate the ``collective`` world (one actor attacks A, B, C with shared
infrastructure, staggered in time); scan every provider without intel; A's analyst
confirms the campaigns whose members are mostly labelled distillation and exports them;
A pushes to a real consortium hub (uvicorn on 127.0.0.1); B and C pull and match; B and C
scan again with the ``intel_match`` signal on. Intel exists only from the moment A shared
(A's first flag in the campaign + ``--analyst-hours``), so an account's flag time with
sharing is min(without, max(with, shared_at)). (STIX timestamps are wall-clock: the
indicators are fresh when B and C use them; simulated time enters only through
``shared_at``.)

Reported per provider (B, C), with and without sharing: recall on the shared actor's
accounts and overall, benign FPR, time to first flag (from the actor's first request at
that provider), exchanges harvested before detection (the actor's requests before each of
its accounts was flagged), and time to the first intel-opened review. Then every byte
sent is scanned with the policy's PII scanner and grepped for A's raw emails (raw and
normalised), IPs, card fingerprints, account ids, client strings and prompt fragments.
Emails, cards, IPs and subnets travel as OPRF tokens the hub evaluates blind (issue 10);
the OPRF evaluations each member asked for, and export/match times, are reported too; the
OPRF request bodies (blinded elements) are part of "every byte sent" in the leak check.

    python bench/bench_collective.py --seeds 0 1 2 [--events 60000] [--work /tmp/collective]

Writes bench/results/collective.json. Timings on the shared 2-core machine are contended.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DG = [str(Path(sys.executable).parent / "distillguard")]
ACTOR = "actor-collective"


def sh(args: list[str]) -> None:
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def scan(events: Path, out: Path, matches: Path | None = None) -> Path:
    args = DG + ["scan", str(events), "--out", str(out), "--no-report"]
    if matches is not None:
        args += ["--set", f'detectors.intel_match.params.matches="{matches}"']
    sh(args)
    return out


def first_flags(findings: Path) -> dict[str, datetime | None]:
    t = pq.read_table(findings / "accounts.parquet", columns=["account_id", "verdict", "first_flag_ts"]).to_pylist()
    return {r["account_id"]: (r["first_flag_ts"] if r["verdict"] == "flag" else None) for r in t}


def labels(world: Path, prov: str) -> dict[str, dict[str, Any]]:
    return {r["account_id"]: r for r in pq.read_table(world / prov / "labels.parquet").to_pylist()}


def confirmed_campaigns(findings: Path, lab: dict[str, dict[str, Any]]) -> list[str]:
    """The analyst's confirmation: campaigns whose members are mostly labelled distillation."""
    doc = json.loads((findings / "campaigns.json").read_text())
    out = []
    for c in doc["campaigns"]:
        ids = c["account_ids"]
        bad = sum(1 for a in ids if lab.get(a, {}).get("label") == "distillation")
        if ids and bad / len(ids) > 0.5:
            out.append(c["id"])
    return out


def metrics(world: Path, prov: str, flags: dict[str, datetime | None], review: dict[str, datetime]) -> dict[str, Any]:
    lab = labels(world, prov)
    con = duckdb.connect()
    ev = con.execute(f"SELECT account_id, ts FROM read_parquet('{world / prov / 'events.parquet'}')").fetchall()
    actor = {a for a, r in lab.items() if r.get("actor_id") == ACTOR}
    bad = {a for a, r in lab.items() if r["label"] == "distillation"}
    benign = set(lab) - bad
    per_acc: dict[str, list[datetime]] = {}
    for a, t in ev:
        if a in actor:
            per_acc.setdefault(a, []).append(t)
    start = min((min(v) for v in per_acc.values()), default=None)
    harvested = sum(sum(1 for t in ts if flags.get(a) is None or t < flags[a]) for a, ts in per_acc.items())
    flagged_actor = [flags[a] for a in actor if flags.get(a) is not None]
    first = min(flagged_actor) if flagged_actor else None
    rev = [review[a] for a in actor if a in review]
    return {
        "actor_accounts": len(actor),
        "actor_recall": round(len(flagged_actor) / max(1, len(actor)), 4),
        "recall_all_distillation": round(sum(1 for a in bad if flags.get(a)) / max(1, len(bad)), 4),
        "benign_fpr": round(sum(1 for a in benign if flags.get(a)) / max(1, len(benign)), 4),
        "hours_to_first_flag": round((first - start).total_seconds() / 3600, 2) if first and start else None,
        "hours_to_first_intel_review": round((min(rev) - start).total_seconds() / 3600, 2) if rev and start else None,
        "exchanges_harvested_before_detection": harvested,
        "actor_exchanges_total": sum(len(v) for v in per_acc.values()),
    }


def intel_reviews(world: Path, prov: str, matches: Path, shared_at: datetime) -> dict[str, datetime]:
    """When each matched account's first request after the intel arrived would open a review."""
    from distillguard.intel.match import read_matches
    from distillguard.intel.trust import decide

    d = decide(read_matches(matches))
    live = {r["account_id"] for r in d.to_pylist() if r["action"] in ("review", "throttle")}
    con = duckdb.connect()
    rows = con.execute(f"SELECT account_id, min(ts) FROM read_parquet('{world / prov / 'events.parquet'}') "
                       "WHERE ts >= ? GROUP BY 1", [shared_at]).fetchall()
    return {a: t for a, t in rows if a in live}


class Hub:
    """The real consortium hub in a thread, with members A, B, C."""

    def __init__(self, db: Path) -> None:
        import uvicorn

        from distillguard.hub.app import create_app
        from distillguard.hub.auth import hash_password, parse_rights
        from distillguard.hub.settings import DEFAULT_COLLECTION, HubSettings
        from distillguard.hub.storage import Member, SQLiteStorage

        settings = HubSettings.model_validate({"database": str(db), "allow_insecure_http": True,
                                               "rate_limit_per_minute": 100_000, "rate_limit_burst": 10_000,
                                               "max_content_length": 50_000_000, "max_objects_per_request": 100_000})
        self.storage = SQLiteStorage(db)
        self.oprf_sent: list[bytes] = []
        self.ids: dict[str, str] = {}
        for m in "ABC":
            self.ids[m] = f"identity--{uuid.uuid4()}"
            self.storage.save_member(Member(name=f"provider-{m}", identity_id=self.ids[m],
                                            rights=parse_rights(["*"], ["*"]), password_hash=hash_password(f"pw-{m}")))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/{settings.api_root}/collections/{DEFAULT_COLLECTION.id}/"
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings, storage=self.storage), host="127.0.0.1",
                                                    port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)

    def endpoint(self, m: str) -> Any:
        from distillguard.intel.taxii import Endpoint

        return Endpoint(self.url, user=f"provider-{m}", password=f"pw-{m}")

    def oprf(self, m: str) -> Any:
        """Member m's client of the hub's OPRF key holder (emails, cards, IPs, subnets); every
        request body is kept in ``self.oprf_sent`` for the leak check."""
        from distillguard.intel.oprf import HubTransport, OprfClient

        return OprfClient(HubTransport(self.url, user=f"provider-{m}", password=f"pw-{m}", record=self.oprf_sent))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def leak_check(world: Path, sent: list[bytes]) -> dict[str, Any]:
    """Scan every byte sent: PII scanner over every string, and grep for A's raw values."""
    from distillguard.intel.artefacts import connect, raw_values
    from distillguard.intel.hashing import normalise
    from distillguard.intel.policy import load_policy, scan_text

    pol = load_policy()
    blob = b"\n".join(sent).decode()
    low = blob.lower()
    scanner_hits = 0

    def walk(x: Any) -> None:
        nonlocal scanner_hits
        if isinstance(x, str):
            scanner_hits += sum(1 for code, _ in scan_text(x, pol) if code.startswith("pii-"))
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for b in sent:
        walk(json.loads(b))
    con = connect(world / "A" / "events.parquet", world / "A" / "accounts.parquet")
    raws = raw_values(con)
    needles: dict[str, set[str]] = {"email": set(), "ip": set(), "payment": set(), "client": set(),
                                    "account_id": set(), "prompt": set()}
    for acc, kind, v in raws:
        needles["account_id"].add(acc.lower())
        needles[kind].add(str(v).lower())
        n = normalise(kind, str(v))
        if n:
            needles[kind].add(n.lower())
    for (p,) in con.execute("SELECT prompt FROM events USING SAMPLE 2000 ROWS").fetchall():
        if p and len(p) >= 40:
            needles["prompt"].add(p[:40].lower())
    found = {k: sum(1 for n in v if len(n) >= 6 and n in low) for k, v in needles.items()}
    # tier, prices, volumes: competitively sensitive words never appear
    competitive = {w: low.count(w) for w in ("tier", "revenue", "price", "enterprise", "invoice")}
    return {"bytes_sent": len(blob), "pii_scanner_hits": scanner_hits,
            "raw_values_checked": {k: len(v) for k, v in needles.items()},
            "raw_values_found": found, "competitive_terms_found": competitive}


def run_seed(seed: int, work: Path, events: int | None, analyst_hours: float) -> dict[str, Any]:
    from distillguard.intel.artefacts import connect
    from distillguard.intel.audit import AuditLog
    from distillguard.intel.export import export_campaigns
    from distillguard.intel.hashing import keyring_toml, parse_keyring
    from distillguard.intel.match import match, write_matches
    from distillguard.intel.policy import load_policy
    from distillguard.intel.stix import ExportOptions
    from distillguard.intel.store import IntelStore
    from distillguard.intel.taxii import pull, push

    w = work / f"seed{seed}"
    if w.exists():
        shutil.rmtree(w)
    world = w / "world"
    args = DG + ["simulate", "--scenario", "collective", "--seed", str(seed), "--out", str(world)]
    if events:
        args += ["--events", str(events)]
    t0 = time.perf_counter()
    sh(args)
    base = {p: scan(world / p, w / f"scan-{p}") for p in "ABC"}
    flags0 = {p: first_flags(base[p]) for p in "ABC"}
    lab_a = labels(world, "A")
    confirmed = confirmed_campaigns(base["A"], lab_a)
    doc = json.loads((base["A"] / "campaigns.json").read_text())
    members = {a for c in doc["campaigns"] if c["id"] in confirmed for a in c["account_ids"]}
    first_a = [flags0["A"][a] for a in members if flags0["A"].get(a)]
    if not confirmed or not first_a:
        return {"seed": seed, "error": "A confirmed no campaign; nothing to share"}
    shared_at = min(first_a) + timedelta(hours=analyst_hours)
    keyring = parse_keyring(keyring_toml("k1", {"k1": uuid.uuid4().hex * 2}))
    hub = Hub(w / "hub.sqlite")
    try:
        t_exp = time.perf_counter()
        bundle, rep = export_campaigns(base["A"], confirmed, world / "A" / "events.parquet",
                                       world / "A" / "accounts.parquet", keyring,
                                       ExportOptions(org="provider-A", identity_id=hub.ids["A"]),
                                       load_policy(), oprf=hub.oprf("A"))
        export_s = time.perf_counter() - t_exp
        audit = AuditLog(w / "audit-A")
        res = push(bundle, hub.endpoint("A"), load_policy(), audit)
        sent = [(audit.folder / "sent" / f"{e['payload_sha256']}.json").read_bytes() for e in audit.entries()]
        out: dict[str, Any] = {"seed": seed, "confirmed_campaigns": len(confirmed), "indicators": rep.indicators,
                               "indicators_by_kind": rep.by_kind, "held_back": rep.held_back,
                               "hub_accepted": res.success, "hub_refused": res.failure,
                               "shared_at": shared_at.isoformat(), "export_s": round(export_s, 2),
                               "providers": {}}
        for p in "BC":
            store = IntelStore(w / f"state-{p}")
            pull(hub.endpoint(p), store)
            con = connect(world / p / "events.parquet", world / p / "accounts.parquet")
            t_m = time.perf_counter()
            m = write_matches(match(store.indicators(), con, keyring, oprf=hub.oprf(p)), w / f"matches-{p}.parquet")
            out.setdefault("match_s", {})[p] = round(time.perf_counter() - t_m, 2)
            with_intel = first_flags(scan(world / p, w / f"scan-{p}-intel", m))
            eff = {a: _eff(flags0[p].get(a), with_intel.get(a), shared_at) for a in flags0[p]}
            reviews = intel_reviews(world, p, m, shared_at)
            out["providers"][p] = {"without_sharing": metrics(world, p, flags0[p], {}),
                                   "with_sharing": metrics(world, p, eff, reviews),
                                   "matched_accounts": len(set(pq.read_table(m).column("account_id").to_pylist()))}
        out["oprf_evaluations"] = {name: sum(n for nm, _t, _k, n in hub.storage.oprf_usage() if nm == name)
                                   for name in ("provider-A", "provider-B", "provider-C")}
        out["leak_check"] = leak_check(world, sent + hub.oprf_sent)
        out["leak_check"]["oprf_request_bytes"] = sum(len(b) for b in hub.oprf_sent)
        out["seconds"] = round(time.perf_counter() - t0, 1)
        return out
    finally:
        hub.stop()


def _eff(without: datetime | None, with_: datetime | None, shared_at: datetime) -> datetime | None:
    """Intel cannot help before it exists: min(without, max(with, shared_at))."""
    cands = [t for t in (without, max(with_, shared_at) if with_ else None) if t is not None]
    return min(cands) if cands else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--events", type=int, default=None, help="rescale the world to about this many requests")
    ap.add_argument("--analyst-hours", type=float, default=24.0, help="delay from A's first flag to sharing")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dg-collective"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "collective.json")
    a = ap.parse_args()
    results = []
    for s in a.seeds:
        r = run_seed(s, a.work, a.events, a.analyst_hours)
        results.append(r)
        print(json.dumps(r, indent=1, default=str), flush=True)
    doc = {"bench": "collective", "machine": "2 shared cores (contended)", "events": a.events,
           "identifiers": "emails, cards, IPs, subnets as RFC 9497 OPRF tokens from the hub; client strings "
                          "and template sketches under the consortium keyring",
           "analyst_hours": a.analyst_hours, "seeds": results, "summary": summarise(results)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1, default=str))
    print(json.dumps(doc["summary"], indent=1))


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ok = [r for r in results if "providers" in r]
    for p in "BC":
        for mode in ("without_sharing", "with_sharing"):
            vals = [r["providers"][p][mode] for r in ok]
            if not vals:
                continue
            agg = {}
            for k in ("actor_recall", "recall_all_distillation", "benign_fpr", "hours_to_first_flag",
                      "hours_to_first_intel_review", "exchanges_harvested_before_detection"):
                xs = [v[k] for v in vals if v.get(k) is not None]
                agg[k] = round(sum(xs) / len(xs), 3) if xs else None
            out[f"{p}.{mode}"] = agg
    out["leaks"] = {"pii_scanner_hits": sum(r["leak_check"]["pii_scanner_hits"] for r in ok),
                    "raw_values_found": sum(sum(r["leak_check"]["raw_values_found"].values()) for r in ok)}
    return out


if __name__ == "__main__":
    main()
