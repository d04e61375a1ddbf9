"""Assemble a labelled multi-provider world and write it in the documented layout.

``generate(scenario, seed, corpus)`` returns a :class:`World` of Arrow tables;
``write_world(world, out)`` writes::

    OUT/scenario.resolved.toml
    OUT/labels.parquet                  all providers, with the provider column
    OUT/<provider>/events.parquet       (or events.jsonl.gz / events.csv)
    OUT/<provider>/accounts.parquet
    OUT/<provider>/labels.parquet
    OUT/manifest.json

Determinism: every random stream is a numpy Generator seeded from (seed, a stable CRC of
the provider / group / actor name, index), so output never depends on dict order, hash
randomisation or the clock; same seed gives byte-identical Parquet.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.errors import ConfigError
from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, LABEL_COLUMNS, arrow_schema
from distillguard.simulate.corpus import open_source
from distillguard.simulate.groups import GroupOut, build_group
from distillguard.simulate.infra import Infra, Shared, make_infra
from distillguard.simulate.personas import BENIGN, CAMPAIGNS
from distillguard.simulate.scenario import GroupSpec, Params, Scenario, dump_scenario, load_scenario, resolve_params, sample

EVENTS_SCHEMA = arrow_schema(EVENT_COLUMNS)
ACCOUNTS_SCHEMA = arrow_schema(ACCOUNT_COLUMNS)
LABELS_SCHEMA = arrow_schema(LABEL_COLUMNS)
FORMATS = ("parquet", "jsonl", "csv")


def _h(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def stream(seed: int, *parts: str | int) -> np.random.Generator:
    """A random stream named by its purpose: stable across runs and platforms."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF] + [p if isinstance(p, int) else _h(p) for p in parts])


@dataclass
class World:
    """A generated world: per-provider Arrow tables plus what produced them."""

    scenario: Scenario
    seed: int
    corpus: str
    events: dict[str, pa.Table]
    accounts: dict[str, pa.Table]
    labels: dict[str, pa.Table]
    resolved: list[dict[str, Any]] = field(default_factory=list)
    reasoning: dict[str, pa.Table] = field(default_factory=dict)  # request_id, reasoning (simulate/responses.py)

    @property
    def all_labels(self) -> pa.Table:
        return pa.concat_tables([self.labels[p] for p in self.events])

    def manifest(self) -> dict[str, Any]:
        prov: dict[str, Any] = {}
        for p, ev in self.events.items():
            lab = self.labels[p]
            acct_persona = dict(zip(lab.column("account_id").to_pylist(), lab.column("persona").to_pylist()))
            acct_camp = dict(zip(lab.column("account_id").to_pylist(), lab.column("campaign_id").to_pylist()))
            per_persona: dict[str, dict[str, int]] = {}
            per_campaign: dict[str, dict[str, int]] = {}
            ids, counts = np.unique(np.asarray(ev.column("account_id").to_numpy(zero_copy_only=False), dtype=object).astype(str),
                                    return_counts=True)
            for a, c in zip(ids.tolist(), counts.tolist()):
                d = per_persona.setdefault(acct_persona[a], {"accounts": 0, "events": 0})
                d["accounts"] += 1
                d["events"] += int(c)
                if acct_camp[a]:
                    e = per_campaign.setdefault(acct_camp[a], {"accounts": 0, "events": 0})
                    e["accounts"] += 1
                    e["events"] += int(c)
            prov[p] = {"events": ev.num_rows, "accounts": self.accounts[p].num_rows,
                       "distillation_accounts": int(sum(1 for x in lab.column("label").to_pylist() if x == "distillation")),
                       "personas": dict(sorted(per_persona.items())), "campaigns": dict(sorted(per_campaign.items()))}
        return {"scenario": self.scenario.world.name, "seed": self.seed, "corpus": self.corpus,
                "start": self.scenario.world.start.isoformat(), "days": self.scenario.world.days,
                "events": sum(t.num_rows for t in self.events.values()), "providers": prov}


def expected_events(sc: Scenario) -> float:
    """Rough expected request count of a scenario at scale 1 (for ``--events`` scaling)."""
    total = 0.0
    for kind, groups, presets, key in (("b", sc.benign, BENIGN, "persona"), ("c", sc.campaigns, CAMPAIGNS, "type")):
        for g in groups:
            p = resolve_params(presets[getattr(g, key)], g.overrides(), "scale")
            n_prov = len(g.providers) if g.providers else len(sc.providers)
            if p.requests is not None:
                req = p.requests
                total += n_prov * (sum(req) / 2 if isinstance(req, list) else float(req))
                continue
            acc = sum(p.accounts) / 2 if isinstance(p.accounts, list) else float(p.accounts)
            lo, hi = (p.rate if isinstance(p.rate, list) else [p.rate, p.rate])
            mean_rate = (hi - lo) / np.log(hi / lo) if hi > lo else lo
            if p.account_active_days is not None:
                d = p.account_active_days
                days = sum(d) / 2 if isinstance(d, list) else float(d)
            else:
                days = sc.world.days * (0.75 if p.late_join > 0.5 else 0.92)
            total += n_prov * acc * mean_rate * days * 0.97
    return total


def _group_plan(sc: Scenario) -> list[tuple[str, int, GroupSpec, Params, str | None, str | None, str]]:
    """(kind, index, spec, params, campaign_id, actor_id, persona) for every entry."""
    plan = []
    for i, g in enumerate(sc.benign):
        assert g.persona is not None
        p = resolve_params(BENIGN[g.persona], g.overrides(), f"benign[{i}]")
        plan.append(("benign", i, g, p, None, None, g.name or g.persona))
    for i, g in enumerate(sc.campaigns):
        assert g.type is not None
        p = resolve_params(CAMPAIGNS[g.type], g.overrides(), f"campaigns[{i}]")
        cid = g.id or f"campaign-{i + 1:02d}"
        plan.append(("campaign", i, g, p, cid, g.actor or f"actor-{cid}", g.type))
    return plan


def generate(scenario: Scenario | str | Path, seed: int = 0, corpus: str | Path | None = None, *,
             events: int | None = None, on_group: Callable[[str, int], None] | None = None) -> World:
    """Generate a labelled world. ``events`` rescales volumes to about that many requests."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    scale = sc.scale
    if events is not None:
        if events <= 0:
            raise ConfigError("--events must be positive", source="events")
        scale = scale * events / max(1.0, expected_events(sc) * sc.scale)
        sc = sc.model_copy(update={"scale": scale})  # the resolved file then reproduces this world without --events
    source = open_source(corpus, sc.sources)
    start = sc.world.start
    start_us = int(start.timestamp() * 1_000_000)
    weekday = start.weekday()
    shared = Shared.build(stream(seed, "shared"))
    plan = _group_plan(sc)
    actor_infra: dict[str, Infra] = {}
    parts: dict[str, list[tuple[GroupOut, str, str | None, str | None, str]]] = {p.name: [] for p in sc.providers}
    resolved: list[dict[str, Any]] = []
    for kind, i, g, p, cid, actor, persona in plan:
        provs = g.providers or [pp.name for pp in sc.providers]
        if kind == "campaign":
            assert actor is not None
            if actor not in actor_infra:
                actor_infra[actor] = make_infra(stream(seed, "actor", actor), p)
            infra = actor_infra[actor]
            crng = stream(seed, "campaign", cid or "", i)
            stagger = [0.0] + [sample(crng, g.stagger_days) for _ in provs[1:]]
            offsets = np.cumsum(stagger).tolist()
        else:
            infra = make_infra(stream(seed, "benign-infra", persona, i), p)
            offsets = [0.0] * len(provs)
        resolved.append({"kind": kind, "index": i, "persona": persona, "campaign_id": cid, "actor_id": actor,
                         "providers": provs, "stagger_offsets_days": [round(o, 3) for o in offsets],
                         "params": p.model_dump(mode="json", exclude_none=True)})
        for j, pname in enumerate(provs):
            prov = next(pp for pp in sc.providers if pp.name == pname)
            rng = stream(seed, "group", kind, i, pname)
            if kind == "campaign":  # campaign-level parameters identical across providers
                rng_params = stream(seed, "campaign-params", cid or "", i)
                p_j = _fix_ranges(rng_params, p)
            else:
                p_j = p
            ident = stream(seed, "identity", persona, i) if kind == "benign" else None
            out = build_group(rng, p_j, prov, source, infra, shared, days=sc.world.days, start_weekday=weekday,
                              scale=scale, offset_days=offsets[j], ident_rng=ident)
            parts[pname].append((out, kind, cid, actor, persona))
            if on_group:
                on_group(f"{persona} @ {pname}", out.n)
    ev_t, ac_t, lb_t = {}, {}, {}
    for pi, prov in enumerate(sc.providers):
        ev_t[prov.name], ac_t[prov.name], lb_t[prov.name] = _assemble_provider(
            parts[prov.name], prov.name, pi, start_us, stream(seed, "ids", prov.name))
    _check_unique(ac_t)
    return World(sc, seed, source.describe(), ev_t, ac_t, lb_t, resolved)


def _fix_ranges(rng: np.random.Generator, p: Params) -> Params:
    """Draw a campaign's ranged knobs once, so the same campaign behaves alike on each provider."""
    fixed = {}
    for k in ("accounts", "requests", "start_day", "duration_days", "session_mean", "gap_median_s", "gap_sigma",
              "elicitation", "template_share", "reasoning_model_share", "ban_rate", "weekend", "harvest_share"):
        val = getattr(p, k)
        if isinstance(val, list):
            fixed[k] = sample(rng, val)
    if isinstance(p.profile, list):
        fixed["profile"] = p.profile[int(rng.integers(0, len(p.profile)))]
    return p.model_copy(update=fixed)


def _assemble_provider(parts: list[tuple[GroupOut, str, str | None, str | None, str]], provider: str, pi: int,
                       start_us: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table, pa.Table]:
    cols: dict[str, list[Any]] = {}
    acc_rows: dict[str, list[Any]] = {k: [] for k in ("account_id", "created_s", "email", "payment_fingerprint", "country",
                                                      "verified", "tier")}
    lab: dict[str, list[Any]] = {k: [] for k in ("account_id", "label", "persona", "campaign_id", "actor_id")}
    for out, kind, cid, actor, persona in parts:
        used = out.extra["used_accounts"]
        ids = np.asarray(out.accounts["account_id"], dtype=object)
        ev = out.events
        for k, c in ev.items():
            if k == "acct":
                cols.setdefault("account_id", []).append(ids[c] if len(c) else np.empty(0, dtype=object))
            else:
                cols.setdefault(k, []).append(c if c is not None else np.full(out.n, None, dtype=object))
        first_ip: dict[int, str] = {}
        for a, ip in zip(ev["acct"].tolist(), ev["ip"].tolist()):
            first_ip.setdefault(a, ip)
        for a in used.tolist():
            for k in ("account_id", "created_s", "email", "payment_fingerprint", "country", "verified", "tier"):
                acc_rows[k].append(out.accounts[k][a])
            lab["account_id"].append(ids[a])
            lab["label"].append("distillation" if kind == "campaign" else "benign")
            lab["persona"].append(persona)
            lab["campaign_id"].append(cid)
            lab["actor_id"].append(actor)
        acc_rows.setdefault("signup_ip", []).extend(first_ip[a] for a in used.tolist())
    merged = {k: np.concatenate(v) if v else np.empty(0) for k, v in cols.items()}
    ts_us = start_us + np.round(merged["ts"] * 1e6).astype(np.int64)
    order = np.argsort(ts_us, kind="stable")
    n = len(order)
    salt = np.uint64(int(rng.integers(1, 2**62)))
    mixed = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ salt
    rid = [f"req_{pi:x}{x:016x}" for x in mixed.tolist()]
    arrays = {
        "request_id": pa.array(rid, pa.string()),
        "ts": pa.array(ts_us[order], pa.timestamp("us", tz="UTC")),
    }
    for k in ("account_id", "api_key_id", "ip", "user_agent", "model", "conversation_id", "system_prompt", "prompt", "response"):
        arrays[k] = pa.array(merged[k][order].tolist(), pa.string())
    for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
        arrays[k] = pa.array(merged[k][order].astype(np.int64), pa.int64())
    events = pa.Table.from_arrays([arrays[f.name] for f in EVENTS_SCHEMA], schema=EVENTS_SCHEMA)
    created = start_us + np.round(np.asarray(acc_rows["created_s"], float) * 1e6).astype(np.int64)
    accounts = pa.Table.from_arrays([
        pa.array(acc_rows["account_id"], pa.string()), pa.array(created, pa.timestamp("us", tz="UTC")),
        pa.array(acc_rows["email"], pa.string()), pa.array(acc_rows["payment_fingerprint"], pa.string()),
        pa.array(acc_rows["country"], pa.string()), pa.array(acc_rows["signup_ip"], pa.string()),
        pa.array([bool(x) for x in acc_rows["verified"]], pa.bool_()), pa.array(acc_rows["tier"], pa.string()),
    ], schema=ACCOUNTS_SCHEMA)
    a_order = np.argsort(np.asarray(acc_rows["account_id"], dtype=object).astype(str), kind="stable")
    accounts = accounts.take(pa.array(a_order))
    labels = pa.Table.from_arrays([
        pa.array(lab["account_id"], pa.string()), pa.array([provider] * len(lab["account_id"]), pa.string()),
        pa.array(lab["label"], pa.string()), pa.array(lab["persona"], pa.string()),
        pa.array(lab["campaign_id"], pa.string()), pa.array(lab["actor_id"], pa.string()),
    ], schema=LABELS_SCHEMA).take(pa.array(a_order))
    return events, accounts, labels


def _check_unique(accounts: dict[str, pa.Table]) -> None:
    for p, t in accounts.items():
        ids = t.column("account_id").to_pylist()
        if len(set(ids)) != len(ids):  # 16 random base-36 characters: never expected
            raise RuntimeError(f"duplicate account ids generated for provider {p}")


def write_world(world: World, out: str | Path, fmt: str = "parquet") -> dict[str, Any]:
    """Write the world in the documented layout; returns the manifest (also written)."""
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {fmt!r}", source="format")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    doc = dump_scenario(world.scenario)
    (root / "scenario.resolved.toml").write_text(doc + "\n# resolved groups (presets merged, ranges as given)\n"
                                                 + "".join(f"# {json.dumps(r, sort_keys=True)}\n" for r in world.resolved))
    files: list[str] = ["scenario.resolved.toml", "labels.parquet", "manifest.json"]
    _write_parquet(world.all_labels, root / "labels.parquet")
    for p, ev in world.events.items():
        d = root / p
        d.mkdir(exist_ok=True)
        for stale in ("events.parquet", "events.jsonl.gz", "events.csv"):
            (d / stale).unlink(missing_ok=True)
        name = {"parquet": "events.parquet", "jsonl": "events.jsonl.gz", "csv": "events.csv"}[fmt]
        _write_events(ev, d / name, fmt)
        _write_parquet(world.accounts[p], d / "accounts.parquet")
        _write_parquet(world.labels[p], d / "labels.parquet")
        files += [f"{p}/{name}", f"{p}/accounts.parquet", f"{p}/labels.parquet"]
        if p in world.reasoning:
            _write_parquet(world.reasoning[p], d / "reasoning.parquet")
            files.append(f"{p}/reasoning.parquet")
    manifest = world.manifest()
    manifest["files"] = files
    manifest["format"] = fmt
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _write_parquet(t: pa.Table, path: Path) -> None:
    pq.write_table(t, path, compression="zstd", row_group_size=250_000)


def _write_events(t: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        _write_parquet(t, path)
        return
    import duckdb

    con = duckdb.connect()
    con.register("t", t)
    sel = ("SELECT * REPLACE (strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS ts) FROM t")
    if fmt == "jsonl":
        con.execute(f"COPY ({sel}) TO '{path}' (FORMAT JSON, COMPRESSION GZIP)")
    else:
        con.execute(f"COPY ({sel}) TO '{path}' (FORMAT CSV, HEADER)")
    con.close()

