"""``scan --engine spark``: the scan's stages with the per-event work on Spark, the same findings.

:func:`scan_con` takes the place of ``scan.run._scan_con`` (the one dispatch point in
``scan.run.scan``): ingest, the findings writer, decide/ and the report are shared. What runs
where (docs/scale-out.md has the table):

* **Spark** — the window and each event's position (``rn``), per-request features (DuckDB's
  SQL per Arrow batch), per-account features (Spark SQL), the live detectors
  (``score_features`` per batch), the template sample and its MinHash sketches, LSH banding
  and template clusters, the content-pool second pass, the account graph's attributes and
  edges, connected components and Leiden per component.
* **Driver** (DuckDB over Spark's Parquet output, accounts- or sample-sized, or the
  flagged accounts' events only): the window test (it samples every account's prompts:
  not yet ported), known-corpus and intel matches, template statistics over the sample,
  combining scores (decide/), describing and scoring the campaigns found on Spark, first-flag
  times (the flagged accounts' events through the live engine and prefix replays), the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.config import Settings
from distillguard.decide import scoring as dc
from distillguard.detectors.base import SIGNAL_SCHEMA, Detector, ScanContext
from distillguard.errors import InputError
from distillguard.features import account as fa
from distillguard.features.templates import ARTEFACT_KEY, WorldTemplates
from distillguard.findings import Campaign
from distillguard.scan import blind_spots, engine
from distillguard.scan import run as srun
from distillguard.spark import features as sf
from distillguard.spark import session as ss

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _parquet_view(con: duckdb.DuckDBPyConnection, name: str, folder: Path, select: str = "*") -> None:
    glob = str(folder / "*.parquet").replace("'", "''")
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM read_parquet('{glob}')")


def _to_duckdb(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.execute("SELECT 1").fetchall()  # DuckDB 2 refuses register() while an earlier result is unfinished
    con.register("_dg_spark_in", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _dg_spark_in")
    con.unregister("_dg_spark_in")


def _materialise(df: "DataFrame", folder: Path) -> "DataFrame":
    """Write ``df`` as Parquet and read it back: a checkpoint every later stage (and DuckDB) reads."""
    df.write.mode("overwrite").parquet(str(folder))
    return df.sparkSession.read.parquet(str(folder))


def session_for(settings: Settings) -> "SparkSession":
    """The scan's session from ``settings.spark`` (an existing one, e.g. spark-submit's, is reused)."""
    cfg = settings.spark
    conf = {"spark.sql.shuffle.partitions": str(cfg.shuffle_partitions), **cfg.conf}
    return ss.get_session(cfg.master, cfg.remote, conf)


def scan_con(con: duckdb.DuckDBPyConnection, out: Path, kept_work: Path | None, dets: dict[str, Detector],
             settings: Settings, since: Any, until: Any, only: str | None, model: dict[str, Any] | None,
             report: bool, say: srun.Step, t: dict[str, float], reports: list[Any],
             inputs: dict[str, Any]) -> srun.ScanResult:
    """The scan of ``scan.run._scan_con`` with Spark doing the per-event work (module docstring)."""
    t0 = time.perf_counter()
    say("start spark")
    spark = session_for(settings)
    t["spark_start"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    work = Path(reports[0].output).parent
    sw = work / "spark"
    say("load (spark)")
    ev = _materialise(sf.events_base(spark, str(work / "events"), since, until), sw / "events_base")
    n_events = ev.count()
    if n_events == 0:
        raise InputError("nothing to scan: no usable event falls inside "
                         f"--since {since.isoformat() if since else '…'} / --until {until.isoformat() if until else '…'}")
    acc_dir = work / "accounts"
    acc_parts = acc_dir if acc_dir.exists() and any(acc_dir.glob("*.parquet")) else None
    has_acc = engine.load_accounts(con, acc_parts)
    acc_df = sf.accounts_frame(spark, str(acc_parts) if acc_parts else None)
    # Spark's Parquet timestamps read as naive in DuckDB: the contract's are UTC instants
    _parquet_view(con, "events_base", sw / "events_base", "* REPLACE (CAST(ts AS TIMESTAMPTZ) AS ts)")
    blind = blind_spots.assess(dets, blind_spots.measure(con, "events_base", has_acc),
                               campaigns=only is None and settings.campaigns.enabled)
    say("text features (spark)")
    rf = _materialise(sf.request_features(ev), sw / "request_features")
    uas = rf.select("user_agent", "client").where("user_agent IS NOT NULL").distinct().toArrow()
    _to_duckdb(con, "client_kinds", pa.table({"user_agent": uas.column("user_agent"), "kind": uas.column("client")}))
    af_df = _materialise(sf.account_features(spark, rf, acc_df), sw / "account_features")
    af = af_df.toArrow()
    _to_duckdb(con, fa.ACCOUNT_FEATURES, af)
    t["features"] = time.perf_counter() - t0

    errors: dict[str, str] = {}
    t0 = time.perf_counter()
    say("detectors (spark)")
    arts: dict[str, Any] = {"account_features": fa.ACCOUNT_FEATURES}
    t_full: dict[str, float] = {}
    need_templates = bool({"templating", "known_corpus"} & set(dets)) or (only is None and settings.campaigns.enabled)
    if need_templates:
        t1 = time.perf_counter()
        key, templates = _templates(ev, rf, af, dets, settings, sw / "sketches")
        arts[ARTEFACT_KEY] = (key, templates)
        t_full["templates"] = time.perf_counter() - t1
    signals = _detect(spark, con, af_df, dets, arts, until, has_acc, only, errors, t_full)
    accs = srun._scores(signals, settings, only, model)
    if not only and model is None:
        _content_pool(spark, rf, af_df, dets, accs, signals, settings)
    t["detectors"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("campaigns (spark)")
    campaigns, membership = _campaigns(spark, con, ev, acc_df, accs, settings, only, errors, arts)
    t["campaigns"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("first flag times (driver)")
    flagged = [a.account_id for a in accs.values() if a.score >= settings.scoring.flag]
    _driver_request_features(con, spark, rf, flagged)
    engine.set_scope(con)
    t_replay: dict[str, float] = {}
    first = srun._first_flags(con, dets, accs, membership, settings, until, has_acc, only, model, t_replay) \
        if settings.scoring.first_flag else {}
    t["first_flag"] = time.perf_counter() - t0
    cfg = settings.spark
    meta = srun.scan_meta(n_events, kept_work, inputs, blind, only, since, until, dets, model, settings, errors)
    meta["engine"] = {"name": "spark", "spark_version": spark.version,
                      "master": None if cfg.remote else cfg.master, "remote": bool(cfg.remote)}
    findings, sig_long = srun.write_outputs(con, out, srun.account_rows(accs, membership, first, settings), campaigns,
                                            meta, signals, settings, errors, report, say, t)
    detail = {**{f"full:{k}": v for k, v in t_full.items()}, **{f"replay:{k}": v for k, v in t_replay.items()}}
    return srun.ScanResult(findings, out, n_events, sig_long, reports, t, errors, detail, blind)


# ------------------------------------------------------------------ detectors
def _templates(ev: "DataFrame", rf: "DataFrame", af: pa.Table, dets: dict[str, Detector], settings: Settings,
               folder: Path) -> tuple[tuple[int, int, int], WorldTemplates]:
    """The world's template clusters from Spark sketches, under the cache key the detectors use."""
    from distillguard.spark import sketches

    tp_cfg = settings.detectors.get("templating")
    tp = dict(tp_cfg.params) if tp_cfg else {}
    det = dets.get("templating")
    per_account = int(getattr(det, "per_account", tp.get("per_account", settings.campaigns.per_account)))
    min_tokens = int(getattr(det, "min_tokens", tp.get("min_tokens", 8)))
    min_per = int(getattr(det, "min_per_template", tp.get("min_per_template", 3)))
    sk = _materialise(sketches.sketch(sketches.sample(rf, ev, per_account)), folder)
    totals = af.select(["account_id", "n"])
    corpus = dets.get("known_corpus")
    return (per_account, min_tokens, min_per), sketches.world_templates(
        sk, totals, min_tokens=min_tokens, min_per_template=min_per, local_finish=settings.spark.local_finish_edges,
        with_sketches=bool(getattr(corpus, "index", None)))


def _detect(spark: "SparkSession", con: duckdb.DuckDBPyConnection, af_df: "DataFrame", dets: dict[str, Detector],
            arts: dict[str, Any], until: Any, has_acc: bool, only: str | None, errors: dict[str, str],
            timings: dict[str, float]) -> dict[str, pa.Table]:
    """Live detectors on Spark (their ``score_features``), batch-only ones on the driver.

    The content pool is a second pass (:func:`_content_pool`), as in the DuckDB scan. The
    driver's ``events`` view is Spark's Parquet window; the batch detectors read it (the window
    test samples prompts per account) and the cached templates (no second sketching).
    """
    live = {n: d for n, d in dets.items() if d.live and n != "content_pool"}
    batch = {n: d for n, d in dets.items() if not d.live}
    out: dict[str, pa.Table] = {}
    t0 = time.perf_counter()
    try:
        out.update(sf.live_signals(af_df, live))
    except Exception as e:  # noqa: BLE001 - as run_detectors: a broken plugin must not sink the scan
        if only:
            raise
        errors["live detectors"] = f"{type(e).__name__}: {e}"
    timings["det:live(spark)"] = time.perf_counter() - t0
    if "content_pool" in dets:
        out["content_pool"] = SIGNAL_SCHEMA.empty_table()
    engine.set_scope(con)
    ctx = ScanContext(con=con, until=until, has_accounts=has_acc, artefacts=arts)
    for name, det in batch.items():
        t0 = time.perf_counter()
        try:
            out[name] = det.detect(ctx).select([f.name for f in SIGNAL_SCHEMA]).cast(SIGNAL_SCHEMA)
        except Exception as e:  # noqa: BLE001
            if only:
                raise
            errors[name] = f"{type(e).__name__}: {e}"
        finally:
            timings[f"det:{name}"] = time.perf_counter() - t0
    return {n: out[n] for n in dets if n in out}


def _content_pool(spark: "SparkSession", rf: "DataFrame", af: "DataFrame", dets: dict[str, Detector],
                  accs: dict[str, dc.AccountScore], signals: dict[str, pa.Table], settings: Settings) -> None:
    """The flagged-content pool pass of ``scan.run._content_pool_pass`` as Spark joins."""
    from pyspark.sql import functions as F

    det = dets.get("content_pool")
    flagged = [a.account_id for a in accs.values() if a.score >= settings.scoring.flag]
    if det is None or not flagged:
        return
    members = spark.createDataFrame(pa.table({"account_id": pa.array(flagged, pa.string())}))
    seg = rf.select("account_id", "request_id", F.explode("pkeys").alias("k"))
    pool = (seg.join(F.broadcast(members), "account_id").groupBy("k")
            .agg(F.count("*").alias("c"), F.min("account_id").alias("owner")).where("c = 1").drop("c"))
    hits = (seg.join(pool, "k").where(F.col("owner") != F.col("account_id"))
            .select("request_id").distinct().withColumn("hit", F.lit(True)))
    r = rf.select("account_id", "request_id", "pkeys", "rh").join(hits, "request_id", "left")
    w_rank = F.expr("transform(slice(array_sort(collect_list(CASE WHEN hit THEN struct(rh, request_id) END)), 1, 5), "
                    "x -> x.request_id)")
    per = (r.groupBy("account_id")
           .agg(F.count("*").alias("n"), F.count(F.when(F.size("pkeys") > 0, 1)).alias("pool_seen"),
                F.count(F.when(F.col("hit"), 1)).alias("pool_hits"), w_rank.alias("ex_any"))
           .where("pool_hits > 0")
           .join(af.select("account_id", "top_family", "top_family_share", "first_ts", "last_ts"), "account_id", "left"))
    table = sf.live_signals(per, {"content_pool": det})["content_pool"]
    srun.add_content_pool(accs, table, signals, settings)


def _driver_request_features(con: duckdb.DuckDBPyConnection, spark: "SparkSession", rf: "DataFrame",
                             accounts: list[str]) -> None:
    """The request features of ``accounts`` (the flagged ones) as the driver's ``request_features``
    table: what the first-flag stream and prefix replays read. Other accounts' rows stay on Spark."""
    from pyspark.sql import functions as F

    names = [n for n, _ in sf.REQUEST_COLUMNS if n not in sf.EXTRA_COLUMNS]
    ids = spark.createDataFrame(pa.table({"account_id": pa.array(accounts, pa.string())}))
    tab = rf.join(F.broadcast(ids), "account_id").select(*names).toArrow()
    _to_duckdb(con, "_dg_rf_signed", tab)
    # back to the DuckDB scan's own types: the live engine's counters hold unsigned 64-bit hashes
    con.execute(f"""CREATE OR REPLACE TABLE request_features AS
        SELECT * REPLACE ({sf.unsigned('phash')} AS phash, {sf.unsigned('frame_key')} AS frame_key,
                          list_transform(pkeys, lambda x: {sf.unsigned('x')}) AS pkeys) FROM _dg_rf_signed""")
    con.execute("DROP TABLE _dg_rf_signed")


# ------------------------------------------------------------------ campaigns
def _template_attributes(templates: WorldTemplates | None, params: Any) -> pa.Table:
    """The ``template`` rows of ``campaigns.graph.collect_attributes`` (sample-sized, driver)."""
    from distillguard.campaigns.graph import collect_attributes

    c = duckdb.connect(":memory:")
    try:
        c.execute("CREATE TABLE events (account_id VARCHAR, ts TIMESTAMPTZ)")
        return collect_attributes(c, templates, params)
    finally:
        c.close()


def _campaigns(spark: "SparkSession", con: duckdb.DuckDBPyConnection, ev: "DataFrame", acc_df: "DataFrame",
               accs: dict[str, dc.AccountScore], settings: Settings, only: str | None, errors: dict[str, str],
               arts: dict[str, Any]) -> tuple[list[Campaign], dict[str, tuple[str, float]]]:
    """Campaigns: graph, components and Leiden on Spark; description and scoring on the driver."""
    if only or not settings.campaigns.enabled:
        return [], {}
    try:
        res = find_campaigns(spark, con, ev, acc_df, srun.account_scores_table(accs), settings,
                             arts.get(ARTEFACT_KEY, (None, None))[1])
    except Exception as e:  # noqa: BLE001 - campaigns are additive evidence, as in the DuckDB scan
        errors["campaigns"] = f"{type(e).__name__}: {e}"
        return [], {}
    return srun.apply_campaigns(res, accs, settings)


def find_campaigns(spark: "SparkSession", con: duckdb.DuckDBPyConnection, ev: "DataFrame", acc_df: "DataFrame",
                   account_scores: pa.Table, settings: Settings, templates: WorldTemplates | None) -> Any:
    """``campaigns.find_campaigns`` with the graph built, cut and clustered on Spark.

    ``con`` (the driver's DuckDB, events as a view over Spark's Parquet) is used by the
    shared ``_describe`` for the members of the communities found: their activity hours,
    first/last seen and cheap identities.
    """
    from pyspark.sql import functions as F

    from distillguard.campaigns import CampaignResult, MEMBERSHIP_SCHEMA, _describe
    from distillguard.campaigns.graph import KIND_WEIGHTS, AccountGraph, GraphParams
    from distillguard.spark import graph as sg
    from distillguard.spark.communities import leiden_by_component

    cfg = settings.campaigns
    params = GraphParams(weights={**KIND_WEIGHTS, **cfg.weights}, max_bucket=cfg.max_bucket,
                         reference_population=cfg.reference_population)
    tattrs = _template_attributes(templates, params)
    attrs = _checkpoint(sg.attributes(spark, ev, acc_df, params, tattrs).distinct())
    scored = account_scores.column("account_id").to_pylist() if account_scores.num_rows else []
    attr_accounts = attrs.select("account_id").distinct().toArrow().column(0).to_pylist()
    accounts = sorted(set(scored) | set(attr_accounts))
    n = len(accounts)
    e_df, kinds = sg.edges(spark, attrs, n, params)
    e_df = _checkpoint(e_df)
    n_edges = e_df.count()
    stats: dict[str, Any] = {"accounts": n, "edges": n_edges}
    empty = CampaignResult([], MEMBERSHIP_SCHEMA.empty_table(), 0, {**stats, "communities": 0})
    if n_edges == 0:
        return empty
    ids = e_df.select(F.col("src").alias("account_id")).union(e_df.select(F.col("dst").alias("account_id"))) \
        .distinct().withColumn("id", F.xxhash64("account_id"))
    hashed = e_df.select(F.xxhash64("src").alias("src"), F.xxhash64("dst").alias("dst"), "weight")
    lf = settings.spark.local_finish_edges
    if n_edges <= settings.spark.whole_graph_edges:
        # One task clusters the whole graph: the same Leiden input (node and edge order) as the
        # DuckDB scan, hence the same partition. Larger graphs go per component.
        comp_acc = ids.select("account_id", F.lit(0).cast("bigint").alias("component"))
        stats["leiden"] = "whole graph, one task"
    else:
        comp = sg.connected_components(hashed, ids.select("id"), local_finish=lf)
        comp = sg.split_giants(hashed, comp, settings.spark.max_component, local_finish=lf)
        comp_acc = ids.join(comp, "id").select("account_id", "component")
        stats["leiden"] = "per connected component"
    memb = leiden_by_component(e_df, comp_acc, kinds, resolution=cfg.resolution, seed=cfg.seed,
                               min_size=cfg.min_size)
    if memb.num_rows == 0:
        return CampaignResult([], MEMBERSHIP_SCHEMA.empty_table(), 0, {**stats, "communities": 0})
    pos = {a: i for i, a in enumerate(accounts)}
    by: dict[str, list[int]] = {}
    for a, c in zip(memb.column("account_id").to_pylist(), memb.column("community").to_pylist()):
        by.setdefault(c, []).append(pos[a])
    groups = [np.array(sorted(v), dtype=np.int64) for v in by.values()]
    groups.sort(key=lambda g: (-len(g), int(g[0])))
    stats["communities"] = len(groups)
    # The driver's graph: edges inside communities and the members' attributes (what _describe reads).
    mdf = spark.createDataFrame(memb)
    inner = (e_df.join(mdf.select(F.col("account_id").alias("src"), F.col("community").alias("c1")), "src")
             .join(mdf.select(F.col("account_id").alias("dst"), F.col("community").alias("c2")), "dst")
             .where("c1 = c2").select("src", "dst", "weight", "density", *[f"w_{k}" for k in kinds]).toArrow())
    inner = inner.sort_by([("src", "ascending"), ("dst", "ascending")])
    src = np.array([pos[a] for a in inner.column("src").to_pylist()], dtype=np.int64)
    dst = np.array([pos[a] for a in inner.column("dst").to_pylist()], dtype=np.int64)
    kw = np.stack([inner.column(f"w_{k}").to_numpy() for k in kinds], axis=1) if kinds else np.zeros((len(src), 0))
    mattr = attrs.join(mdf.select("account_id"), "account_id").toArrow()
    attr_tab = pa.table({"account_idx": pa.array([pos[a] for a in mattr.column("account_id").to_pylist()], pa.int64()),
                         "kind": mattr.column("kind"), "value": mattr.column("value")})
    # build_graph's row order (by kind, value, account), so ties in "commonest values" read alike
    attr_tab = attr_tab.sort_by([("kind", "ascending"), ("value", "ascending"), ("account_idx", "ascending")])
    graph = AccountGraph(accounts, src, dst, inner.column("weight").to_numpy(), inner.column("density").to_numpy(),
                         attr_tab, kinds, kw)
    if templates is None:
        raise RuntimeError("campaigns need the template clusters (computed when campaigns are enabled)")
    engine.set_scope(con)
    return _describe(con, graph, groups, templates, account_scores, settings, stats)


def _checkpoint(df: "DataFrame") -> "DataFrame":
    return df.localCheckpoint(eager=True)


__all__ = ["find_campaigns", "scan_con", "session_for"]
