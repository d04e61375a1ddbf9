"""The scan pipeline: ingest → features → detectors → campaigns → decide → replay → write.

:func:`scan` is what ``distillguard scan`` runs. It keeps side effects at the edges
(ingest writes canonical Parquet to a working folder in the cache, outside the findings,
removed after the scan unless ``keep_work``; the end writes the findings folder)
and does the middle in DuckDB over the scoped views of :mod:`distillguard.scan.engine`.

``first_flag_ts`` comes from the stream: the flagged accounts' events are fed in time
order through the live engine the guard runs (engine/first_flag.py), and the time of the
exact event at which the account's evidence crossed ``flag`` is recorded. Accounts flagged
only through a batch signal or their Leiden campaign get the time at which the batch
could see them (see :func:`_first_flags`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard._version import __version__
from distillguard.config import Settings
from distillguard.decide import scoring as dc
from distillguard.decide import model as dm
from distillguard.detectors import registry
from distillguard.detectors.base import SIGNAL_SCHEMA, Detector, ScanContext
from distillguard.errors import ConfigError, InputError
from distillguard.features import _memo
from distillguard.features import account as fa
from distillguard.findings import Campaign, Findings, account_table, write_findings
from distillguard.ingest import IngestReport, ingest, resolve_inputs
from distillguard.scan import blind_spots, engine

Step = Callable[[str], None]


@dataclass
class ScanResult:
    findings: Findings
    out: Path
    events: int
    signals: pa.Table
    ingest_reports: list[IngestReport] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    detail_timings: dict[str, float] = field(default_factory=dict)
    """Seconds per detector and step, ``full:`` (whole window) and ``replay:`` prefixes (bench/)."""
    blind_spots: dict[str, Any] = field(default_factory=dict)
    """Which signals ran blind or weakened, and why (scan/blind_spots.py)."""
    work: Path | None = None
    """The kept working folder (canonical Parquet parts), or None once removed."""


def _detectors(settings: Settings, only: str | None) -> dict[str, Detector]:
    names = [only] if only else [n for n in registry.available("signals") if dc.enabled(n, settings)]
    dets = {}
    for n in names:
        cfg = settings.detectors.get(n)
        dets[n] = registry.create(n, dict(cfg.params) if cfg else None)
    return dets


def run_detectors(con: duckdb.DuckDBPyConnection, dets: dict[str, Detector], until: datetime | None,
                  has_accounts: bool, strict: bool, errors: dict[str, str],
                  artefacts: dict[str, Any] | None = None,
                  timings: dict[str, float] | None = None) -> dict[str, pa.Table]:
    """Build account features for the current scope and run each detector on it.

    A failing detector is reported in ``errors`` and skipped (``strict`` re-raises: used
    when one detector runs alone, where its failure is the whole answer). Seconds spent
    per step are added to ``timings`` (keys ``account_features`` and ``det:<name>``).
    """
    tm = timings if timings is not None else {}
    t0 = time.perf_counter()
    fa.build_account_features(con, fa.SCOPED_REQUESTS, fa.ACCOUNT_FEATURES)
    tm["account_features"] = tm.get("account_features", 0.0) + time.perf_counter() - t0
    arts = artefacts if artefacts is not None else {}
    arts.setdefault("account_features", fa.ACCOUNT_FEATURES)
    arts.setdefault("request_features", fa.SCOPED_REQUESTS)
    # The same dict object goes to the detectors, so what they cache (e.g. the world's
    # template clusters) is visible to the caller afterwards (the campaign finder).
    ctx = ScanContext(con=con, until=until, has_accounts=has_accounts, artefacts=arts)
    out: dict[str, pa.Table] = {}
    for name, det in dets.items():
        t0 = time.perf_counter()
        try:
            t = det.detect(ctx)
            out[name] = t.select([f.name for f in SIGNAL_SCHEMA]).cast(SIGNAL_SCHEMA)
        except Exception as e:  # noqa: BLE001 - one broken plugin must not sink the scan
            if strict:
                raise
            errors[name] = f"{type(e).__name__}: {e}"
        finally:
            tm[f"det:{name}"] = tm.get(f"det:{name}", 0.0) + time.perf_counter() - t0
    return out


def _scores(signals: dict[str, pa.Table], settings: Settings, only: str | None,
            model: dict[str, Any] | None) -> dict[str, dc.AccountScore]:
    weights = {n: (1.0 if only else dc.weight_of(n, settings)) for n in signals}
    accs = dc.combine(signals, weights)
    if not only:
        for a in accs.values():
            dc.cap_single_member_intel(a, settings, weights=weights)
    if only:  # a detector run alone: its own score is the account score
        for a in accs.values():
            a.score = a.signals.get(only, 0.0)
    elif model is not None:
        probs = dm.predict(model, long_signals(signals))
        for a in accs.values():
            a.score = probs.get(a.account_id, a.score)
    return accs


def long_signals(signals: dict[str, pa.Table]) -> pa.Table:
    """All detectors' rows in one table with a ``signal`` column (signals.parquet)."""
    parts = [t.append_column("signal", pa.array([n] * t.num_rows, pa.string())) for n, t in signals.items()]
    if not parts:
        return SIGNAL_SCHEMA.append(pa.field("signal", pa.string())).empty_table()
    return pa.concat_tables(parts)


def _ingest_inputs(events: str | Path | list[str | Path], accounts: str | Path | None, work: Path,
                   settings: Settings, step: Step, mapping: Any = None,
                   accounts_mapping: Any = None) -> tuple[IngestReport, IngestReport | None]:
    step("ingest events")
    ev = ingest(events, "events", work, settings.ingest, mapping=mapping)
    acc_spec: str | Path | None = accounts
    if acc_spec is None and not isinstance(events, list) and Path(str(events)).is_dir():
        try:
            resolve_inputs(events, stem="accounts")
            acc_spec = events
        except InputError:
            acc_spec = None
    acc = None
    if acc_spec is not None:
        step("ingest accounts")
        acc = ingest(acc_spec, "accounts", work, settings.ingest, mapping=accounts_mapping)
    return ev, acc


def work_root(settings: Settings) -> Path:
    """Where working copies of raw logs go: ``engine.work_dir``, else the user cache folder."""
    if settings.engine.work_dir:
        return Path(settings.engine.work_dir)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distillguard" / "work"


def _no_usable(rep: IngestReport, qfile: Path) -> InputError:
    if rep.read == 0:
        return InputError("nothing to scan: the input holds no events", source=", ".join(rep.files))
    top = ", ".join(f"{r} ({n:,})" for r, n in rep.reasons.most_common(3))
    return InputError(f"nothing to scan: all {rep.read:,} events were quarantined ({top}); rows and reasons are in "
                      f"{qfile}", source=", ".join(rep.files) if len(rep.files) <= 3 else f"{len(rep.files)} files")


def scan(events: str | Path | list[str | Path], out: str | Path, *, accounts: str | Path | None = None,
         since: datetime | None = None, until: datetime | None = None, settings: Settings | None = None,
         detector: str | None = None, model_path: Path | None = None, report: bool = True,
         step: Step | None = None, mapping: Any = None, keep_work: bool = False,
         accounts_mapping: Any = None, engine_name: str = "duckdb") -> ScanResult:
    """Scan ``events`` (file, folder, glob, or a list of them) and write a findings folder to ``out``.

    ``mapping`` (profile name, TOML file or Mapping) reads a provider's own format;
    ``accounts_mapping`` (a mapping with ``kind = "accounts"``) does the same for accounts. The
    canonical working copy lives in a cache folder (:func:`work_root`) and is removed at
    the end unless ``keep_work``. Raises InputError when no event is usable.

    ``engine_name="spark"`` runs the per-event work on Apache Spark (``settings.spark``:
    master or Spark Connect remote; distillguard.spark, docs/scale-out.md) and writes the
    same findings; DuckDB (the default) runs everything in process.
    """
    settings = settings or Settings()
    run_con = _scan_con
    if engine_name == "spark":
        from distillguard.spark import session as spark_session
        from distillguard.spark.run import scan_con as run_con  # type: ignore[assignment]

        spark_session.require(remote=bool(settings.spark.remote))
    elif engine_name != "duckdb":
        raise ConfigError(f"unknown engine {engine_name!r}: choose duckdb or spark")
    say = step or (lambda _s: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = work_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="scan-", dir=root))
    kept = False
    try:
        t: dict[str, float] = {}
        t0 = time.perf_counter()
        ev_rep, acc_rep = _ingest_inputs(events, accounts, work, settings, say, mapping, accounts_mapping)
        t["ingest"] = time.perf_counter() - t0
        reports = [r for r in (ev_rep, acc_rep) if r is not None]
        _keep_ingest_reports(reports, out)
        if ev_rep.used == 0:
            raise _no_usable(ev_rep, out / "ingest" / "events.quarantine.jsonl")
        if since and until and since > until:
            raise InputError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
        model = dm.load(model_path) if model_path else None
        dets = _detectors(settings, detector)
        inputs = {"events": _abs(events), "accounts": _abs(acc_rep.files) if acc_rep else None,
                  "mapping": _mapping_name(mapping), "accounts_mapping": _mapping_name(accounts_mapping),
                  "encoding": settings.ingest.encoding,
                  "naive_timezone": settings.ingest.naive_timezone,
                  "ingest": [{k: v for k, v in r.to_dict().items() if k not in ("output", "quarantine_file")}
                             for r in reports]}
        con = engine.connect(settings.engine, work)
        try:
            with _small_blas(), _memo.active(sketch=SKETCH_MEMO, embed=EMBED_MEMO):
                res = run_con(con, out, work if keep_work else None, dets, settings, since, until, detector, model,
                              report, say, t, reports, inputs)
        finally:
            con.close()
        if keep_work:
            shutil.rmtree(work / "spill", ignore_errors=True)
            kept, res.work = True, work
        return res
    finally:
        if not kept:
            shutil.rmtree(work, ignore_errors=True)


def _abs(spec: Any) -> list[str]:
    """Absolute paths (or absolute globs) of what was read, for report/evaluate later."""
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    return [str(Path(str(x)).resolve()) if Path(str(x)).exists() else os.path.abspath(str(x)) for x in items]


def _mapping_name(mapping: Any) -> str | None:
    if mapping is None:
        return None
    if isinstance(mapping, (str, Path)):
        p = Path(str(mapping))
        return str(p.resolve()) if p.exists() else str(mapping)
    return str(getattr(mapping, "name", mapping))


def _keep_ingest_reports(reports: list[IngestReport], out: Path) -> None:
    """Move the quarantine files and counts from the working folder into OUT/ingest/."""
    dest = out / "ingest"
    dest.mkdir(parents=True, exist_ok=True)
    for r in reports:
        q = Path(r.quarantine_file)
        target = dest / q.name
        if q.exists():
            shutil.move(str(q), target)
        r.quarantine_file = str(target)
        (dest / f"{r.kind}.ingest.json").write_text(json.dumps(
            {k: v for k, v in r.to_dict().items() if k != "output"}, indent=2))


SKETCH_MEMO = 300_000
"""Distinct prompts whose MinHash rows a scan keeps for reuse (~0.7 kB each; features._memo):
the templating and known-corpus stages sketch the same sample."""
EMBED_MEMO = 150_000
"""Distinct masked prompts whose window-test vectors a scan keeps for reuse (~1 kB each)."""


def _small_blas() -> Any:
    """Single-threaded BLAS for the scan's many tiny matrix products (kernel rows of 64 x 800).

    OpenBLAS wakes its whole thread pool for every call; on small matrices (and on shared
    cores) that hand-off costs 5-10x the product itself. DuckDB keeps its own threads.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a transitive dependency of scikit-learn; absent means no pool to limit
        from contextlib import nullcontext
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _scan_con(con: duckdb.DuckDBPyConnection, out: Path, kept_work: Path | None, dets: dict[str, Detector],
              settings: Settings, since: datetime | None, until: datetime | None, only: str | None,
              model: dict[str, Any] | None, report: bool, say: Step, t: dict[str, float],
              reports: list[IngestReport], inputs: dict[str, Any]) -> ScanResult:
    t0 = time.perf_counter()
    say("load")
    work = Path(reports[0].output).parent
    n_events = engine.load_events(con, work / "events", since, until)
    has_acc = engine.load_accounts(con, work / "accounts" if (work / "accounts").exists() else None)
    if n_events == 0:
        raise InputError("nothing to scan: no usable event falls inside "
                         f"--since {since.isoformat() if since else '…'} / --until {until.isoformat() if until else '…'}")
    blind = blind_spots.assess(dets, blind_spots.measure(con, "events_base", has_acc),
                               campaigns=only is None and settings.campaigns.enabled)
    say("text features")
    fa.build_request_features(con, "events_base", fa.REQUEST_FEATURES)
    engine.set_scope(con)
    t["features"] = time.perf_counter() - t0
    errors: dict[str, str] = {}
    t0 = time.perf_counter()
    say("detectors")
    # One artefacts dict for the full-window detectors and the campaign finder: both use the
    # world's template clusters (features.templates.ARTEFACT_KEY), sketched once.
    arts: dict[str, Any] = {}
    t_full: dict[str, float] = {}
    signals = run_detectors(con, dets, until, has_acc, strict=only is not None, errors=errors, artefacts=arts,
                            timings=t_full)
    accs = _scores(signals, settings, only, model)
    if not only and model is None:
        _content_pool_pass(con, dets, accs, signals, settings, arts)
    t["detectors"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("campaigns")
    campaigns, membership = _campaigns(con, accs, settings, until, only, errors, arts)
    t["campaigns"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("first flag times (stream)")
    t_replay: dict[str, float] = {}
    first = _first_flags(con, dets, accs, membership, settings, until, has_acc, only, model, t_replay) \
        if settings.scoring.first_flag else {}
    t["first_flag"] = time.perf_counter() - t0
    meta = scan_meta(n_events, kept_work, inputs, blind, only, since, until, dets, model, settings, errors)
    findings, sig_long = write_outputs(con, out, account_rows(accs, membership, first, settings), campaigns, meta,
                                       signals, settings, errors, report, say, t)
    detail = {**{f"full:{k}": v for k, v in t_full.items()}, **{f"replay:{k}": v for k, v in t_replay.items()}}
    return ScanResult(findings, out, n_events, sig_long, reports, t, errors, detail, blind)


def _content_pool_pass(con: duckdb.DuckDBPyConnection, dets: dict[str, Detector], accs: dict[str, dc.AccountScore],
                       signals: dict[str, pa.Table], settings: Settings, arts: dict[str, Any]) -> None:
    """Second pass: the prompts of accounts flagged on their own evidence form the flagged-content
    pool (detectors/content_pool.py); other accounts re-sending its items gain that signal."""
    from distillguard.detectors.content_pool import ARTEFACT

    det = dets.get("content_pool")
    flagged = [a.account_id for a in accs.values() if a.score >= settings.scoring.flag]
    if det is None or not flagged:
        return
    con.register("_dg_pool_in", pa.table({"account_id": pa.array(flagged, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _dg_pool_members AS SELECT * FROM _dg_pool_in")
    con.unregister("_dg_pool_in")
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE _dg_pool AS
    WITH seg AS (SELECT account_id, request_id, unnest(pkeys) AS k FROM {fa.SCOPED_REQUESTS}),
    pool AS (SELECT k, min(account_id) AS owner FROM seg
             WHERE account_id IN (SELECT account_id FROM _dg_pool_members) GROUP BY k HAVING count(*) = 1),
    hits AS (SELECT DISTINCT s.request_id FROM seg s JOIN pool p USING (k) WHERE p.owner <> s.account_id)
    SELECT r.account_id, count(*) AS n, count(*) FILTER (WHERE len(r.pkeys) > 0) AS pool_seen,
           count(h.request_id) AS pool_hits, any_value(af.top_family) AS top_family,
           any_value(af.top_family_share) AS top_family_share, any_value(af.first_ts) AS first_ts,
           any_value(af.last_ts) AS last_ts,
           arg_min(r.request_id, hash(r.request_id), 5) FILTER (WHERE h.request_id IS NOT NULL) AS ex_any
    FROM {fa.SCOPED_REQUESTS} r LEFT JOIN hits h USING (request_id)
         LEFT JOIN {fa.ACCOUNT_FEATURES} af USING (account_id) GROUP BY r.account_id""")
    arts[ARTEFACT] = "_dg_pool"
    table = det.detect(ScanContext(con=con, artefacts=arts)).cast(SIGNAL_SCHEMA)
    add_content_pool(accs, table, signals, settings)


def add_content_pool(accs: dict[str, dc.AccountScore], table: pa.Table, signals: dict[str, pa.Table],
                     settings: Settings) -> None:
    """Fold the second pass's ``content_pool`` signal into the account scores (either engine)."""
    signals["content_pool"] = table
    weights = {n: dc.weight_of(n, settings) for n in {*signals}}
    group_of = dc.groups()
    for r in table.to_pylist():
        acc = accs.setdefault(r["account_id"], dc.AccountScore(r["account_id"], 0.0, 0.0))
        dc.add_signal(acc, "content_pool", r, weights["content_pool"])
        dc.finish(acc, weights, group_of)
        dc.cap_single_member_intel(acc, settings, weights=weights, group_of=group_of)


def account_rows(accs: dict[str, dc.AccountScore], membership: dict[str, tuple[str, float]],
                 first: dict[str, datetime], settings: Settings) -> list[dict[str, Any]]:
    """The accounts table's rows: verdict from the score, campaign, first flag (flagged only)."""
    rows = []
    for a in sorted(accs.values(), key=lambda x: x.account_id):
        v = dc.verdict(a.score, settings)
        rows.append({"account_id": a.account_id, "score": min(1.0, max(0.0, a.score)), "verdict": v,
                     "campaign_id": membership.get(a.account_id, (None, 0.0))[0],
                     "first_flag_ts": first.get(a.account_id) if v == "flag" else None,
                     "reasons": a.reasons})
    return rows


def scan_meta(n_events: int, kept_work: Path | None, inputs: Any, blind: Any, only: str | None,
              since: datetime | None, until: datetime | None, dets: dict[str, Detector], model: Any,
              settings: Settings, errors: dict[str, str]) -> dict[str, Any]:
    """The findings' ``meta`` (docs/findings.md), the same whichever engine ran the scan."""
    return {"tool": "distillguard", "version": __version__, "events": n_events,
            "events_path": str((kept_work / "events").resolve()) if kept_work else None,
            "work_dir": str(kept_work.resolve()) if kept_work else None,
            "inputs": inputs, "blind_spots": blind, "detector": only or "distillguard",
            "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
            "detectors": sorted(dets), "only": only, "model": bool(model),
            "detector_versions": {n: str(d.version) for n, d in sorted(dets.items())},
            "weights": {n: (1.0 if only else dc.weight_of(n, settings)) for n in dets},
            "thresholds": {"watch": settings.scoring.watch, "flag": settings.scoring.flag},
            "detector_errors": errors}


def write_outputs(con: duckdb.DuckDBPyConnection, out: Path, rows: list[dict[str, Any]], campaigns: list[Campaign],
                  meta: dict[str, Any], signals: dict[str, pa.Table], settings: Settings, errors: dict[str, str],
                  report: bool, say: Step, t: dict[str, float]) -> tuple[Findings, pa.Table]:
    """Write the findings contract, the long signals table and (optionally) report.html."""
    findings = Findings(account_table(rows), campaigns, meta)
    write_findings(findings, out)
    sig_long = long_signals(signals)
    pq.write_table(sig_long, out / dm.SIGNALS_FILE)
    if report:
        t0 = time.perf_counter()
        say("report")
        _report(findings, con, out, sig_long, errors, settings.console.url)
        t["report"] = time.perf_counter() - t0
    return findings, sig_long


def _report(findings: Findings, con: duckdb.DuckDBPyConnection, out: Path, signals: pa.Table,
            errors: dict[str, str], console_url: str | None = None) -> None:
    try:
        from distillguard.report import write_report
    except ImportError as e:  # report engineer's module missing: findings are still complete
        errors["report"] = f"report unavailable: {e}"
        return
    write_report(findings, con, out / "report.html", signals=signals, console_url=console_url)


def _campaigns(con: duckdb.DuckDBPyConnection, accs: dict[str, dc.AccountScore], settings: Settings,
               until: datetime | None, only: str | None, errors: dict[str, str],
               artefacts: dict[str, Any] | None = None) -> tuple[list[Campaign], dict[str, tuple[str, float]]]:
    """Call the campaign finder if installed, and let members inherit campaign risk."""
    if only:
        return [], {}
    try:
        from distillguard.campaigns import find_campaigns  # type: ignore[attr-defined]
    except ImportError:
        return [], {}
    table = account_scores_table(accs)
    ctx = ScanContext(con=con, until=until, artefacts={**(artefacts or {}), "account_features": fa.ACCOUNT_FEATURES,
                                                       "request_features": fa.SCOPED_REQUESTS})
    try:
        res = find_campaigns(ctx, table, settings)
    except Exception as e:  # noqa: BLE001 - campaigns are additive evidence
        errors["campaigns"] = f"{type(e).__name__}: {e}"
        return [], {}
    return apply_campaigns(res, accs, settings)


def account_scores_table(accs: dict[str, dc.AccountScore]) -> pa.Table:
    """Per account its score and every signal's score (``s_<signal>``): what the campaign finder reads."""
    return pa.table({
        "account_id": pa.array([a.account_id for a in accs.values()], pa.string()),
        "score": pa.array([a.score for a in accs.values()], pa.float64()),
        **{f"s_{n}": pa.array([a.signals.get(n, 0.0) for a in accs.values()], pa.float64())
           for n in sorted({k for a in accs.values() for k in a.signals})},
    })


def apply_campaigns(res: Any, accs: dict[str, dc.AccountScore], settings: Settings
                    ) -> tuple[list[Campaign], dict[str, tuple[str, float]]]:
    """Members inherit their campaign's risk (decide.inherit_share × tie_factor); returns the
    campaigns and each member's (campaign id, campaign score). Shared by both engines."""
    members: dict[str, tuple[str, float]] = {}
    sizes = {c.id: len(c.account_ids) for c in res.campaigns}
    share = {c.id: dc.inherit_share(float((c.signals or {}).get("cheap_identities", 1.0)),
                                    float((c.signals or {}).get("template_concentration", 0.0)), settings)
             for c in res.campaigns}
    m = res.membership
    ties = m.column("strong_tie").to_pylist() if "strong_tie" in m.column_names else [True] * m.num_rows
    for acc_id, cid, cscore, strong in zip(m.column("account_id").to_pylist(), m.column("campaign_id").to_pylist(),
                                           m.column("campaign_score").to_pylist(), ties):
        members[acc_id] = (cid, float(cscore))
        if acc_id in accs:
            s = share.get(cid, settings.scoring.campaign_inherit) * dc.tie_factor(bool(strong), settings)
            dc.inherit(accs[acc_id], cid, float(cscore), s, sizes.get(cid, 0))
    return list(res.campaigns), members


# --------------------------------------------------------------- first flag times
def _nth_event_ts(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, int]]) -> dict[str, datetime]:
    """Timestamp of each account's n-th event (its last if it has fewer)."""
    if not pairs:
        return {}
    tab = pa.table({"account_id": [p[0] for p in pairs], "k": [p[1] for p in pairs]})
    con.register("_dg_nth", tab)
    try:
        rows = con.execute(
            """SELECT e.account_id, max(e.ts) FROM events_base e JOIN _dg_nth n USING (account_id)
               WHERE e.rn <= n.k GROUP BY e.account_id""").fetchall()
    finally:
        con.unregister("_dg_nth")
    return {a: ts for a, ts in rows}


def _first_flags(con: duckdb.DuckDBPyConnection, dets: dict[str, Detector], accs: dict[str, dc.AccountScore],
                 membership: dict[str, tuple[str, float]], settings: Settings, until: datetime | None,
                 has_acc: bool, only: str | None, model: dict[str, Any] | None,
                 timings: dict[str, float] | None = None) -> dict[str, datetime]:
    """When each flagged account was first flagged.

    The earlier of two times, because evidence comes in two kinds:

    1. **The stream** (engine/first_flag.py): the flagged accounts' events, in time order,
       through the live engine; the exact event at which its live evidence crossed ``flag``.
    2. **Batch-only evidence**: signals that need the whole population (world template
       clusters, the window test, a corpus index) can cross earlier, or alone. So the flagged
       accounts are also re-scored by the batch detectors on their first n events
       (``replay_prefixes``, bisected to an eighth of each doubling step): what ``--until``
       would show. Campaign members get the time their campaign showed itself
       (:func:`_campaign_times`) if earlier, and an account flagged only with all its events
       its last event.
    """
    flag = settings.scoring.flag
    flagged = [a.account_id for a in accs.values() if a.score >= flag]
    if not flagged:
        return {}
    rest = flagged
    counts = dict(con.execute("SELECT account_id, n FROM account_features").fetchall())
    own_full = {a for a in rest
                if (accs[a].signals.get(only, 0.0) if only else dc.evidence_to_score(accs[a].evidence)) >= flag}
    found: dict[str, int] = {}
    pending = set(rest)
    prefixes = list(settings.scoring.replay_prefixes)
    con.register("_dg_flagged_in", pa.table({"account_id": pa.array(rest, pa.string())}))
    con.execute("CREATE OR REPLACE TABLE _dg_flagged AS SELECT * FROM _dg_flagged_in")
    con.unregister("_dg_flagged_in")
    engine.make_replay_tables(con, "_dg_flagged", max(prefixes, default=0))
    try:
        _replay_prefixes(con, dets, prefixes, pending, counts, found, settings, until, has_acc, only, model,
                         timings)
    finally:
        engine.drop_replay_tables(con)
        con.execute("DROP TABLE IF EXISTS _dg_flagged")
        engine.set_scope(con)
    for a in pending & own_full:  # flagged only once all its events were seen
        found[a] = counts.get(a, 0)
    late = _nth_event_ts(con, list(found.items()))
    for a, ts in _campaign_times(con, membership, set(rest) - own_full, settings).items():
        if a not in late or ts < late[a]:
            late[a] = ts
    times = dict(late)
    if not only:  # the stream, each account only up to the time the batch already flags it
        from distillguard.engine.first_flag import stream_first_flags

        for a, ts in stream_first_flags(con, flagged, settings, until=late).items():
            if a not in times or ts < times[a]:
                times[a] = ts
    return {a: times[a] for a in flagged if a in times}


def _replay_prefixes(con: duckdb.DuckDBPyConnection, dets: dict[str, Detector], prefixes: list[int],
                     pending: set[str], counts: dict[str, int], found: dict[str, int], settings: Settings,
                     until: datetime | None, has_acc: bool, only: str | None, model: dict[str, Any] | None,
                     timings: dict[str, float] | None) -> None:
    """Re-score the still-pending accounts on their first p events, for each prefix p in turn.

    The prefixes double, so an account that first crosses at p crossed somewhere in
    (previous p, p]; reporting p would overstate what was harvested before the flag by up
    to 2x. Accounts found at p are therefore bisected ``_REFINE_STEPS`` times within that
    interval (only those accounts are re-scored, so this adds a few small runs).
    """
    prev = 0
    for p in prefixes:
        todo = [a for a in pending if counts.get(a, 0) > p]
        if not todo:
            break
        if timings is not None:
            timings[f"accounts@{p}"] = float(len(todo))
        hit = _flagged_at(con, dets, todo, p, settings, until, has_acc, only, model, timings)
        groups = [(prev, p, hit)] if hit else []
        for _ in range(_REFINE_STEPS):
            nxt = []
            for lo, hi, accts in groups:
                mid = (lo + hi) // 2
                if mid <= lo or mid >= hi:
                    nxt.append((lo, hi, accts))
                    continue
                early = _flagged_at(con, dets, accts, mid, settings, until, has_acc, only, model, timings)
                late = [a for a in accts if a not in early]
                nxt += [g for g in ((lo, mid, early), (mid, hi, late)) if g[2]]
            groups = nxt
        for _, hi, accts in groups:
            for a in accts:
                found[a] = hi
                pending.discard(a)
        prev = p


_REFINE_STEPS = 3  # resolution of a first-flag prefix: 1/8 of the doubling interval


def _flagged_at(con: duckdb.DuckDBPyConnection, dets: dict[str, Detector], accounts: list[str], p: int,
                settings: Settings, until: datetime | None, has_acc: bool, only: str | None,
                model: dict[str, Any] | None, timings: dict[str, float] | None) -> list[str]:
    """Which of ``accounts`` score at or above ``flag`` on their first ``p`` events."""
    con.register("_dg_pending_in", pa.table({"account_id": pa.array(accounts, pa.string())}))
    con.execute("CREATE OR REPLACE TABLE _dg_pending AS SELECT * FROM _dg_pending_in")
    con.unregister("_dg_pending_in")
    engine.set_scope(con, prefix=p, only="_dg_pending", replay=True)
    sig = run_detectors(con, dets, until, has_acc, strict=False, errors={}, timings=timings)
    want = set(accounts)
    return [a.account_id for a in _scores(sig, settings, only, model).values()
            if a.account_id in want and a.score >= settings.scoring.flag]


def _campaign_times(con: duckdb.DuckDBPyConnection, membership: dict[str, tuple[str, float]],
                    flagged: set[str], settings: Settings) -> dict[str, datetime]:
    """When would each flagged campaign member have been flagged through its campaign?

    A campaign becomes visible once ``campaign_flag_members`` of its accounts have each
    made ``campaign_flag_events`` requests (shared infrastructure and templates need a
    few requests to show); a member is flagged then, or at its own
    ``campaign_flag_events``-th request if it joins later.
    """
    k, m = settings.scoring.campaign_flag_members, settings.scoring.campaign_flag_events
    members = [a for a in flagged if a in membership]
    if not members:
        return {}
    shown = _nth_event_ts(con, [(a, m) for a in members])
    by_campaign: dict[str, list[datetime]] = {}
    for a in members:
        if a in shown:
            by_campaign.setdefault(membership[a][0], []).append(shown[a])
    visible = {c: sorted(ts)[min(k, len(ts)) - 1] for c, ts in by_campaign.items()}
    return {a: max(visible[membership[a][0]], shown[a]) for a in members if a in shown}


__all__ = ["ScanResult", "long_signals", "run_detectors", "scan"]
