"""One typed configuration object for every command, overridable from TOML and the CLI.

Precedence: built-in defaults < ``--config FILE`` (TOML) < ``--set section.key=value``.
Each subsystem reads only its own section, so a config file can hold the settings for
scan, serve, intel and hub together. docs/configuration.md lists every key.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from distillguard.errors import ConfigError
from distillguard.hub.settings import HubSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IngestConfig(_Section):
    max_prompt_chars: int = Field(200_000, gt=0, description="longer prompts are quarantined as absurd")
    max_row_bytes: int = Field(2_000_000, gt=0, description="rows larger than this are quarantined")
    batch_rows: int = Field(100_000, gt=0, description="rows per Arrow batch while reading")
    max_field_chars: int = Field(1024, gt=0, description="longer ids, IPs, user agents, models, emails... are "
                                 "quarantined as absurd")
    naive_timezone: str | None = Field(None, description="zone (IANA name, e.g. UTC) for timestamps written "
                                       "without one; unset: such rows are quarantined")
    encoding: str = Field("utf-8", description="text encoding of CSV and JSONL files (e.g. latin-1, cp1252); "
                          "bytes invalid in it quarantine their row")


class EngineConfig(_Section):
    memory_limit: str = Field("2GB", description="DuckDB memory limit; bounds scan memory, not input size")
    threads: int = Field(2, gt=0, description="DuckDB worker threads")
    temp_directory: str | None = Field(None, description="spill folder (default: inside the scan's working folder)")
    work_dir: str | None = Field(None, description="where scans keep their working copy of the logs (default: "
                                 "$XDG_CACHE_HOME/distillguard/work or ~/.cache/distillguard/work); removed after "
                                 "each scan unless --keep-work")


class SparkConfig(_Section):
    """``scan --engine spark`` (docs/scale-out.md); ignored by the default DuckDB engine."""

    master: str = Field("local[2]", description="Spark master: local[N], spark://host:7077, yarn, k8s://… (--master)")
    remote: str | None = Field(None, description="Spark Connect URL, e.g. sc://host:15002; overrides master (--remote)")
    conf: dict[str, str] = Field(default_factory=dict, description="extra Spark settings, e.g. "
                                 "{\"spark.executor.memory\" = \"8g\"}")
    shuffle_partitions: int = Field(8, gt=0, description="spark.sql.shuffle.partitions (raise on a cluster: ~2-3 per core)")
    max_component: int = Field(100_000, gt=1, description="account-graph components larger than this are split by "
                               "their rarest ties before Leiden")
    whole_graph_edges: int = Field(5_000_000, ge=0, description="account graphs with at most this many edges are "
                                   "clustered whole in one task (the DuckDB scan's exact partition); larger ones "
                                   "per connected component on the executors")
    local_finish_edges: int = Field(1_000_000, ge=0, description="connected components finish on the driver once this "
                                    "few edges remain between representatives (0: every round on Spark)")


class DetectorConfig(_Section):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    weight: float = Field(1.0, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)


class ScoringConfig(_Section):
    watch: float = Field(0.5, ge=0, le=1, description="score at or above which an account is watched")
    flag: float = Field(0.8, ge=0, le=1, description="score at or above which an account is flagged")
    campaign_inherit: float = Field(1.0, ge=0, le=1, description="share of a campaign's risk its members inherit "
                                    "when all its identities are cheap (disposable, unverified and new)")
    campaign_inherit_floor: float = Field(0.85, ge=0, le=1, description="fraction of campaign_inherit passed on "
                                          "by a campaign of established identities (office NAT, agency seats)")
    first_flag: bool = Field(True, description="compute first_flag_ts by streaming flagged accounts' events through the live engine")
    replay_prefixes: list[int] = Field(default_factory=lambda: [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
                                       description="per-account event counts at which accounts flagged only by batch "
                                                   "signals are re-scored")
    campaign_flag_members: int = Field(3, ge=1, description="members a campaign needs before its flag applies (batch-only campaigns)")
    campaign_flag_events: int = Field(5, ge=1, description="requests each of those members must have made (batch-only campaigns)")


class CampaignConfig(_Section):
    """Campaign (hydra network) detection: account graph + Leiden (docs/campaigns.md)."""

    enabled: bool = Field(True, description="find campaigns (coordinated account networks) at all")
    report_threshold: float = Field(0.5, ge=0, le=1, description="campaigns scoring below this are not reported")
    min_size: int = Field(3, ge=2, description="fewest accounts a campaign may have")
    resolution: float = Field(0.5, gt=0, description="Leiden CPM density: mean pair tie strength a campaign needs")
    seed: int = Field(7, description="Leiden seed (results are deterministic for a given seed)")
    per_account: int = Field(400, gt=0, description="prompts sampled per account for shared templates")
    live_popular_at: int = Field(50, gt=1, description="live linking: facts held by more accounts are a population, not a campaign")
    max_bucket: int = Field(2000, gt=1, description="attribute values shared by more accounts are ignored")
    reference_population: int = Field(200, gt=1, description="rarity is relative to at least this many accounts")
    weights: dict[str, float] = Field(default_factory=dict, description="override base weights of edge kinds")


class ServiceConfig(_Section):
    """`distillguard serve` settings (docs/service.md)."""

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8707, ge=0, le=65535, description="TCP port (0: any free port)")
    state_path: str = Field("distillguard-state.db", description="SQLite state file; ':memory:' keeps nothing")
    flush_interval_s: float = Field(2.0, gt=0, description="state older than this may be lost in a crash")
    store_timeout_ms: float = Field(50.0, gt=0, description="give up on a state-store read after this long")
    fail_mode: str = Field("open", pattern="^(open|closed)$", description="answer when the store is slow: open=allow, closed=fail_closed_action")
    fail_closed_action: str = Field("challenge", pattern="^(allow|throttle|challenge|block)$",
                                    description="the answer under fail_mode=closed when the store is slow")
    policy_file: str | None = Field(None, description="decision policy TOML (default: packaged policy); its "
                                    "`[protect]` section drives `POST /v1/protect` (docs/provenance.md)")
    policy_check_s: float = Field(1.0, gt=0, description="how often the policy file's mtime is checked")
    findings_dir: str | None = Field(None, description="latest batch scan findings folder to seed from")
    accounts: str | None = Field(None, description="accounts table (Parquet) loaded at start as the accounts feed")
    intel_matches: str | None = Field(None, description="intel matches.parquet to seed from")
    max_accounts: int = Field(200_000, gt=0, description="accounts held in memory; least recently seen are evicted")
    idle_evict_s: float = Field(6 * 3600.0, gt=0, description="accounts idle this long (event time) are evicted")
    max_batch: int = Field(1000, gt=0, description="events per POST /v1/events")
    max_body_bytes: int = Field(8_000_000, gt=0, description="larger request bodies get 413")
    max_prompt_chars: int = Field(200_000, gt=0, description="longer prompts get 422")
    history: int = Field(20, gt=0, description="decisions returned by GET /v1/accounts/{id}")
    admin_token: str | None = Field(None, min_length=16, description="Bearer token for /v1/feedback, /v1/accounts and "
                                    "/v1/admin/*; unset: those endpoints refuse (also $DISTILLGUARD_ADMIN_TOKEN)")


class IntelTrustConfig(_Section):
    """How this member acts on intel matches (docs/intel.md, ``distillguard.intel.trust.TrustPolicy``)."""

    shadow: bool = Field(False, description="log what intel would do without acting on it")
    min_corroboration: float = Field(1.8, ge=0, description="age-weighted organisations needed to act as corroborated")
    allow_accounts: list[str] = Field(default_factory=list, description="accounts intel never acts on")
    allow_indicators: list[str] = Field(default_factory=list, description="indicator ids ignored (known false positives)")
    single_score: float = Field(0.55, ge=0, le=1, description="score given by one member's indicator")
    corroborated_score: float = Field(0.85, ge=0, le=1, description="score given by corroborated indicators")
    infrastructure_score: float = Field(0.25, ge=0, le=1, description="score given by shared infrastructure alone")


class IntelConfig(_Section):
    """Defaults of `distillguard intel` options (docs/intel.md); command-line options win."""

    org: str | None = Field(None, description="this member's organisation name (--org)")
    identity: str | None = Field(None, description="the STIX identity id the hub registered (--identity)")
    keyring: str | None = Field(None, description="consortium keyring TOML (--keyring)")
    url: str | None = Field(None, description="TAXII collection URL (--url)")
    user: str | None = Field(None, description="HTTP Basic user (--user)")
    policy: str | None = Field(None, description="sharing policy TOML (default: packaged policy)")
    state: str | None = Field(None, description="folder of pulled intel (--state)")
    audit: str | None = Field(None, description="folder of the hash-chained audit log (--audit)")
    events: str | None = Field(None, description="events to match intel against (--events)")
    accounts: str | None = Field(None, description="accounts to match intel against (--accounts)")
    trust: IntelTrustConfig = Field(default_factory=IntelTrustConfig)


class ConsoleConfig(_Section):
    """`distillguard console`, the analyst console (docs/console.md)."""

    db: str = Field("cases.sqlite", description="SQLite case store (cases, users, sessions, the activity log)")
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8708, ge=0, le=65535, description="TCP port")
    url: str | None = Field(None, description="the console's address as analysts reach it (e.g. "
                            "http://127.0.0.1:8708); when set, report.html links each campaign and account to its case")
    guard_url: str | None = Field(None, description="the guard (`distillguard serve`) that receives decisions as "
                                  "feedback; unset: decisions stay in the console")
    guard_token: str | None = Field(None, min_length=16, description="the guard's service.admin_token for "
                                    "POST /v1/feedback (also $DISTILLGUARD_ADMIN_TOKEN)")
    intel_matches: str | None = Field(None, description="intel matches.parquet shown on case pages")
    retractions_dir: str | None = Field(None, description="where dismissing a shared case writes its retraction "
                                        "bundle (default: beside the case store)")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="how long a login lasts")
    secure_cookies: bool = Field(False, description="mark cookies Secure (set when the console is served over HTTPS)")


HubConfig = HubSettings
"""The ``[hub]`` section is the hub's own typed settings (distillguard.hub.settings)."""


class Settings(_Section):
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    campaigns: CampaignConfig = Field(default_factory=CampaignConfig)
    detectors: dict[str, DetectorConfig] = Field(default_factory=dict)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    intel: IntelConfig = Field(default_factory=IntelConfig)
    hub: HubSettings = Field(default_factory=HubSettings)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a ConfigError naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", source=source) from e


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = doc
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted}: {k} is not a section")
    node[keys[-1]] = value


def _model_at(loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, str]:
    """The settings model holding the key at ``loc`` (a pydantic error location), and its dotted section."""
    model: Any = Settings
    parts: list[str] = []
    for key in loc[:-1]:
        if model is None:
            return None, ".".join(parts)
        if isinstance(model, type) and issubclass(model, BaseModel):
            f = model.model_fields.get(str(key))
            if f is None:
                return None, ".".join(parts)
            ann = f.annotation
            parts.append(str(key))
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                model = ann
            elif getattr(ann, "__origin__", None) is dict:
                model = ("dict", ann.__args__[1])
            elif getattr(ann, "__origin__", None) is list:
                model = ("list", ann.__args__[0])
            else:
                model = None
        elif isinstance(model, tuple):
            parts.append(str(key))
            inner = model[1]
            model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return (model if isinstance(model, type) and issubclass(model, BaseModel) else None), ".".join(parts)


def _closest(key: str, valid: list[str]) -> str:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f"; did you mean {near[0]!r}?" if near else (f"; valid keys: {', '.join(valid)}" if valid else "")


def readable(e: ValidationError) -> str:
    """One line per problem, naming the dotted key and, for an unknown key, the closest valid one."""
    lines = []
    for err in e.errors():
        loc = tuple(err.get("loc", ()))
        dotted = ".".join(str(x) for x in loc)
        if err.get("type") == "extra_forbidden":
            model, section = _model_at(loc)
            valid = list(model.model_fields) if model is not None else []
            where = f"[{section}]" if section else "the top level"
            lines.append(f"unknown key {dotted!r} in {where}{_closest(str(loc[-1]), valid)}")
        else:
            lines.append(f"{dotted}: {err.get('msg')} (got {err.get('input')!r})"[:300])
    return "; ".join(lines)


def _check_detectors(settings: Settings, source: str) -> None:
    """Detector names and their params must exist (a typo would otherwise configure nothing)."""
    if not settings.detectors:
        return
    from distillguard.detectors import registry

    names = list(registry.available("all"))
    for name, cfg in settings.detectors.items():
        if name not in names:
            raise ConfigError(f"unknown detector {name!r} in [detectors]{_closest(name, names)}", source=source)
        valid = list(registry.create(name).get_params())
        for k in cfg.params:
            if k not in valid:
                raise ConfigError(f"unknown parameter {k!r} in [detectors.{name}.params]{_closest(k, valid)}",
                                  source=source)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Settings:
    """Build Settings from an optional TOML file and ``key=value`` overrides.

    Unknown keys are an error in every section, with the closest valid key named.
    """
    doc: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError("config file not found", source=str(p))
        doc = parse_toml(p.read_text(), str(p))
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        key, _, raw = item.partition("=")
        _set_path(doc, key.strip(), _parse_value(raw.strip()))
    source = str(path) if path else "--set"
    if path and overrides:
        source = f"{path} / --set"
    try:
        settings = Settings.model_validate(doc)
    except ValidationError as e:
        raise ConfigError(readable(e), source=source) from e
    _check_detectors(settings, source)
    return settings


# ------------------------------------------------------------------ docs/configuration.md
_DOC_INTRO = """# Configuration

<!-- Generated from src/distillguard/config.py by `python -m distillguard.config > docs/configuration.md`.
     Do not edit by hand: tests/core/test_docs_config.py fails when this file and the code differ. -->

One typed `Settings` object (src/distillguard/config.py) serves every command. Precedence:
built-in defaults < `--config FILE` (TOML) < `--set section.key=value` (repeatable; values
parse as TOML, e.g. `--set scoring.flag=0.85`, `--set detectors.metadata.enabled=false`,
`--set 'detectors.volume.params={default_daily=500.0}'`).

**Unknown keys are an error in every section**, including detector names and detector
parameters, and the message names the closest valid key, so a typo never silently does
nothing:

```
error: --set: unknown key 'service.findngs_dir' in [service]; did you mean 'findings_dir'?
```

```toml
# example: scan.toml
[ingest]
naive_timezone = "UTC"   # logs written without a zone are in UTC

[engine]
memory_limit = "3GB"
threads = 2

[scoring]
watch = 0.5
flag = 0.8

[detectors.reasoning]
weight = 1.2

[detectors.volume.params]
tier_daily = { free = 200.0, build = 2000.0 }

[detectors.metadata]
enabled = false
```

The `[campaigns]`, `[service]`, `[intel]` and `[hub]` sections belong to their subsystems and
are documented in their own docs too (docs/campaigns.md, docs/service.md, docs/intel.md,
docs/hub.md).
"""


def _fmt_default(f: Any) -> str:
    from pydantic_core import PydanticUndefined

    if f.default_factory is not None:
        v = f.default_factory()
    elif f.default is PydanticUndefined:
        return "required"
    else:
        v = f.default
    if isinstance(v, BaseModel):
        return "see below"
    if isinstance(v, list) and v and isinstance(v[0], BaseModel):
        return f"{len(v)} entr{'y' if len(v) == 1 else 'ies'} (see its doc)"
    return f"`{v!r}`"


def _section_md(prefix: str, model: type[BaseModel]) -> list[str]:
    lines = [f"### `[{prefix}]`", ""]
    doc = (model.__doc__ or "").strip()
    if doc and not doc.startswith(("Usage docs", "!!!")) and model.__doc__ is not BaseModel.__doc__:
        lines += [doc.splitlines()[0], ""]
    lines += ["| key | default | meaning |", "|---|---|---|"]
    nested = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested.append((f"{prefix}.{name}", ann))
            continue
        desc = (f.description or "").replace("|", "\\|")
        lines.append(f"| `{prefix}.{name}` | {_fmt_default(f)} | {desc} |")
    lines.append("")
    for p, m in nested:
        lines += _section_md(p, m)
    return lines


def _detectors_md() -> list[str]:
    from distillguard.detectors import registry

    lines = ["### `[detectors.<name>]`", "",
             "Every detector (signal or baseline) takes `enabled` (default true), `weight` (signals; default "
             "below) and `params` (its keyword parameters; unknown names are an error).", "",
             "| detector | group | default weight | params (defaults) |", "|---|---|---|---|"]
    meta = registry.metadata("all")
    for name, m in sorted(meta.items(), key=lambda kv: (kv[1].kind != "signal", kv[0])):
        params = registry.create(name).get_params()
        ps = ", ".join(f"`{k}={v!r}`" for k, v in params.items()) or "—"
        weight = f"{m.weight:g}" if m.kind == "signal" else "alone"
        lines.append(f"| `{name}` | {m.group or '—'} | {weight} | {ps} |")
    return lines + [""]


def render_docs() -> str:
    """The text of docs/configuration.md, from the field definitions above."""
    lines = [_DOC_INTRO]
    for name, f in Settings.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            lines += _section_md(name, ann)
    lines += _detectors_md()
    lines += ["## Regenerating this file", "", "```", "python -m distillguard.config > docs/configuration.md", "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - exercised by the docs drift test through render_docs
    print(render_docs(), end="")
