"""`distillguard intel`: share what you confirmed, use what others shared (docs/intel.md).

    intel keygen --out keyring.toml                       a consortium key (share out of band)
    intel export FINDINGS --cases cases.sqlite --events E --accounts A --keyring K --org ORG --out BUNDLE
                                                          (or --confirmed FILE: campaign ids, one a line)
    intel check BUNDLE                                    policy guard + OASIS validator
    intel push BUNDLE --url COLLECTION_URL --audit DIR    policy, validate, send, audit
    intel pull --url COLLECTION_URL --state DIR           incremental, retractions reported
    intel match --state DIR --events E --accounts A --keyring K --out matches.parquet
    intel decide MATCHES                                  what the trust policy would do
    intel retract INDICATOR_ID --from BUNDLE --out BUNDLE / intel dispute INDICATOR_ID --out BUNDLE
    intel audit verify DIR / intel audit show DIR
    intel psi request|respond|result                      member-to-member PSI for emails
    intel misp export BUNDLE --out EVENT / intel misp import EVENT --state DIR
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from distillguard.cli._common import ConfigOpt, MapOpt, SetOpt, console, friendly_errors, out, settings_from
from distillguard.errors import InputError


def _intel_cfg(config: Optional[Path], set_: Optional[list[str]]) -> dict[str, Any]:
    return settings_from(config, set_).intel.model_dump(exclude_none=True)


def _need(value: Any, name: str, cfg: dict[str, Any], key: str) -> Any:
    v = value if value is not None else cfg.get(key)
    if v is None:
        raise typer.BadParameter(f"{name} is required (or set intel.{key} in the config)")
    return v


def _canonical(spec: str | Path, kind: str, mapping: Optional[str], tmp: Path) -> str | Path:
    """Canonical Parquet for ``spec``: itself, or, with a mapping, the provider's own logs
    validated and translated as ``scan --map`` does (rows it cannot use are reported)."""
    if mapping is None:
        return spec
    from distillguard.ingest.load import ingest

    rep = ingest(str(spec), kind, tmp / kind, mapping=mapping)
    if rep.used == 0:
        raise InputError(f"no usable {kind} rows through mapping {mapping!r}", source=str(spec))
    if rep.quarantined:
        why = ", ".join(f"{r} ({n:,})" for r, n in rep.reasons.most_common(3))
        console.print(f"[yellow]{rep.quarantined:,} of {rep.read:,} {kind} row(s) left out[/] reading "
                      f"{escape(str(spec))} through {escape(mapping)}: {escape(why)}")
    return tmp / kind


def _load_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise InputError("file not found", source=str(path))
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e}", source=str(path)) from e
    if not isinstance(doc, dict):
        raise InputError("expected a STIX bundle (a JSON object)", source=str(path))
    return doc


def _endpoint(url: str, user: Optional[str], token_env: str, password_env: str) -> Any:
    from distillguard.intel.taxii import Endpoint

    token = os.environ.get(token_env)
    password = os.environ.get(password_env)
    if not token and not (user and password):
        raise typer.BadParameter(f"credentials: set ${token_env}, or --user and ${password_env}")
    return Endpoint(url, user=user, password=password, token=token)


def _oprf_client(oprf: Optional[str], user: Optional[str], cfg: dict[str, Any], cache: Any = None) -> Any:
    """An OPRF client for the key holder at ``--oprf`` (or intel.oprf_url), None if neither is set."""
    url = oprf or cfg.get("oprf_url")
    if not url:
        return None
    from distillguard.intel.oprf import HubTransport, OprfClient

    token = os.environ.get("DISTILLGUARD_TAXII_TOKEN")
    password = os.environ.get("DISTILLGUARD_TAXII_PASSWORD")
    who = user or cfg.get("user")
    if not token and not (who and password):
        raise typer.BadParameter("OPRF key holder credentials: set $DISTILLGUARD_TAXII_TOKEN, "
                                 "or --user and $DISTILLGUARD_TAXII_PASSWORD")
    pinned = {str(k): __import__("base64").b64decode(str(v)) for k, v in (cfg.get("oprf_public_keys") or {}).items()}
    cache = cfg.get("oprf_cache") or cache
    return OprfClient(HubTransport(str(url), user=who, password=password, token=token), pinned=pinned or None,
                      cache_path=str(cache) if cache else None)


def _id_key(path: Path) -> bytes:
    """The member's private id key: 32 random bytes in a hex file, created on first use."""
    from distillguard.intel.signing import hex_key_file

    new = not path.exists()
    key = hex_key_file(path, create=True, what="id key")
    if new:
        console.print(f"[green]new id key:[/] {path} (keep it: re-exports with it update the same objects)")
    if len(key) < 16:
        raise InputError("id key must be at least 16 bytes", source=str(path))
    return key


SigningKeyOpt = typer.Option(None, "--signing-key", help="Your Ed25519 signing key file (intel signing-key): every "
                             "object you author is signed, so members who pin your public key refuse forgeries "
                             "even through a standard TAXII server.")


def _signing_key(path: Any) -> Any:
    if not path:
        return None
    from distillguard.intel.signing import SigningKey

    return SigningKey.load(path)


def _trusted_keys(path: Optional[Path], cfg: dict[str, Any]) -> dict[str, str]:
    keys = dict(cfg.get("trusted_keys") or {})
    if path is not None:
        from distillguard.config import parse_toml

        if not path.exists():
            raise InputError("trusted keys file not found", source=str(path))
        keys.update({str(k): str(v) for k, v in parse_toml(path.read_text(), str(path)).items()})
    return keys


AuditKeyOpt = typer.Option(None, "--audit-key", help="Key file that MACs the audit log's HEAD (keep it outside the "
                           "audit folder; created on first push). With it, a shortened log cannot be given a valid HEAD.")


def _audit_key(path: Any, *, create: bool) -> bytes | None:
    if not path:
        return None
    from distillguard.intel.signing import hex_key_file

    return hex_key_file(path, create=create, what="audit key")


OprfOpt = typer.Option(None, "--oprf", help="URL of the consortium's OPRF key holder (the hub, e.g. https://hub:8443): "
                       "emails, cards, IPs and subnets become OPRF tokens it evaluates blind. Without it they are "
                       "held back. Credentials as for push (--user, $DISTILLGUARD_TAXII_PASSWORD or _TOKEN).")
UrlOpt = typer.Option(None, "--url", help="TAXII 2.1 collection URL (…/<api-root>/collections/<id>/).")
UserOpt = typer.Option(None, "--user", help="HTTP Basic user (password from $DISTILLGUARD_TAXII_PASSWORD).")


def register(app: typer.Typer) -> None:
    intel = typer.Typer(help="Share intel on confirmed campaigns and use what others share (docs/intel.md).",
                        no_args_is_help=True)
    app.add_typer(intel, name="intel")
    audit_app = typer.Typer(help="The hash-chained log of everything shared.", no_args_is_help=True)
    intel.add_typer(audit_app, name="audit")
    psi_app = typer.Typer(help="Private set intersection with one other member (emails).", no_args_is_help=True)
    intel.add_typer(psi_app, name="psi")
    misp_app = typer.Typer(help="Share with and from MISP (distillguard object templates; docs/intel.md).",
                           no_args_is_help=True)
    intel.add_typer(misp_app, name="misp")

    @misp_app.command("export")
    @friendly_errors
    def misp_export(bundle: Path = typer.Argument(..., help="A distillguard bundle (export, retraction, dispute)."),
                    out_path: Path = typer.Option(..., "--out", help="MISP event JSON to write ({\"Event\": …}).")) -> None:
        """Bundle -> MISP event: indicators and opinions as distillguard-indicator / -opinion objects
        (retractions keep revoked=true and to_ids=false)."""
        from distillguard.intel.misp import bundle_to_misp

        ev = bundle_to_misp(_load_json(bundle))
        out_path.write_text(json.dumps(ev, indent=1))
        console.print(f"[green]MISP event:[/] {out_path}: {len(ev['Event']['Object'])} object(s); templates in "
                      "distillguard/intel/misp_templates/")

    @misp_app.command("import")
    @friendly_errors
    def misp_import(event: Path = typer.Argument(..., help="A MISP event JSON ({\"Event\": …}) with distillguard objects."),
                    state: Optional[Path] = typer.Option(None, "--state", help="Local intel state folder."),
                    config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """MISP event -> the local intel store (as if pulled): retractions and disputes are reported."""
        from distillguard.intel.misp import misp_to_objects
        from distillguard.intel.store import IntelStore

        cfg = _intel_cfg(config, set_)
        st_dir = Path(_need(state, "--state", cfg, "state"))
        store = IntelStore(st_dir, trusted_keys=_trusted_keys(None, cfg))
        d = store.ingest(misp_to_objects(_load_json(event)))
        store.save()
        console.print(f"[green]imported[/] {d.new} new, {d.updated} updated, {d.unchanged} unchanged")
        _report_retractions(st_dir, d.retracted + d.disputed)

    @intel.command("keygen")
    @friendly_errors
    def keygen(out_path: Path = typer.Option(..., "--out", help="Keyring TOML to write (keep it secret)."),
               key_id: str = typer.Option("k1", "--id", help="Key id (lowercase, ≤ 32 chars)."),
               previous: Optional[Path] = typer.Option(None, "--rotate-from", help="Keep this keyring's keys as previous."),
               previous_valid_days: int = typer.Option(90, help="How long previous keys stay valid for matching.")) -> None:
        """Create a consortium key (or rotate: new current key, old ones kept for matching)."""
        from datetime import datetime, timedelta, timezone

        from distillguard.intel.hashing import keyring_toml, load_keyring, parse_keyring

        secrets_: dict[str, str] = {key_id: secrets.token_hex(32)}
        until: dict[str, str] = {}
        if previous is not None:
            old = load_keyring(previous)
            stop = (datetime.now(timezone.utc) + timedelta(days=previous_valid_days)).isoformat()
            for kid, k in old.keys.items():
                if kid != key_id:
                    secrets_[kid] = k.secret.hex()
                    until[kid] = k.valid_until.isoformat() if k.valid_until else stop
        text = keyring_toml(key_id, secrets_, until)
        parse_keyring(text)
        out_path.write_text(text)
        out_path.chmod(0o600)
        console.print(f"[green]keyring written:[/] {out_path} (current key {key_id}, {len(secrets_)} key(s))")

    @intel.command("signing-key")
    @friendly_errors
    def signing_key_cmd(out_path: Path = typer.Option(..., "--out", help="Private key file to write (mode 600)."),
                        identity: Optional[str] = typer.Option(None, "--identity", help="Your identity id, "
                                                               "to print a ready trusted_keys line."),
                        config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Create your Ed25519 signing key; prints the public key other members pin (intel.trusted_keys)."""
        from distillguard.intel.signing import SigningKey

        if out_path.exists():
            raise InputError("exists; not overwriting a signing key", source=str(out_path))
        key = SigningKey.load(out_path, create=True)
        ident = identity or _intel_cfg(config, set_).get("identity") or "identity--<yours>"
        console.print(f"[green]signing key written:[/] {out_path}; give the others this line for their trusted keys:")
        out.print(f'"{ident}" = "{key.public_b64()}"')

    @intel.command("export")
    @friendly_errors
    def export(
        findings: Path = typer.Argument(..., help="Findings folder (accounts.parquet + campaigns.json)."),
        confirmed: Optional[Path] = typer.Option(None, "--confirmed", help="Campaign ids the analyst confirmed (lines "
                                                 "or JSON list); kept for compatibility, prefer --cases."),
        cases: Optional[Path] = typer.Option(None, "--cases", help="The analyst console's case store (cases.sqlite): "
                                             "exactly the campaigns confirmed there are shared, and the console "
                                             "remembers what was shared so a later dismissal writes a retraction."),
        out_path: Path = typer.Option(..., "--out", help="Bundle JSON to write."),
        events: Optional[Path] = typer.Option(None, "--events", help="Canonical events (Parquet file or folder)."),
        accounts: Optional[Path] = typer.Option(None, "--accounts", help="Canonical accounts (Parquet)."),
        keyring: Optional[Path] = typer.Option(None, "--keyring", help="Consortium keyring TOML."),
        org: Optional[str] = typer.Option(None, "--org", help="Your organisation's name as members know it."),
        identity: Optional[str] = typer.Option(None, "--identity", help="Your STIX identity id at the hub."),
        opinion: str = typer.Option("confirmed", "--opinion", help="confirmed | investigation-seed | false-positive"),
        tlp: str = typer.Option("amber", "--tlp", help="TLP 2.0 level: clear, green, amber, amber+strict, red."),
        policy: Optional[Path] = typer.Option(None, "--policy", help="Sharing policy TOML (default: packaged)."),
        oprf: Optional[str] = OprfOpt, user: Optional[str] = UserOpt,
        id_key: Optional[Path] = typer.Option(None, "--id-key", help="Your private id key file (created, mode 600, "
                                              "if missing; never share it): re-exports keep their ids so they update "
                                              "rather than duplicate, and nobody else can predict an id to squat it. "
                                              "Without it every export gets fresh ids."),
        signing_key: Optional[Path] = SigningKeyOpt,
        profile: str = typer.Option("distillguard", "--profile", help="distillguard (full, with x_distillguard_* "
                                    "properties) | opencti (standard STIX + x_opencti_score, which OpenCTI's import "
                                    "workbench accepts; our custom properties and the extension-definition left out)"),
        config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
    ) -> None:
        """Turn confirmed campaigns into a STIX 2.1 bundle of keyed, privacy-preserving indicators.

        Emails, payment fingerprints, IPs and subnets are shared only as OPRF tokens from the key holder (--oprf);
        client strings and prompt-template sketches use the keyring. --org must be your hub member name.
        """
        from distillguard.intel.export import export_campaigns, read_confirmed
        from distillguard.intel.hashing import load_keyring
        from distillguard.intel.policy import load_policy
        from distillguard.intel.stix import ExportOptions

        cfg = _intel_cfg(config, set_)
        pol = load_policy(policy or cfg.get("policy"))
        opts = ExportOptions(org=_need(org, "--org", cfg, "org"), identity_id=identity or cfg.get("identity"),
                             tlp=tlp, category=opinion, policy_version=pol.version)
        key_file = id_key or cfg.get("id_key")
        if key_file:
            opts.id_key = _id_key(Path(key_file))
        if (confirmed is None) == (cases is None):
            raise typer.BadParameter("give the confirmed campaigns with --cases cases.sqlite (the console) "
                                     "or --confirmed FILE, not both")
        store = None
        if cases is not None:
            from distillguard.console.decisions import confirmed_campaigns
            from distillguard.console.store import CaseStore

            if not cases.exists():
                raise InputError("no console case store here", source=str(cases))
            store = CaseStore(cases)
            chosen = confirmed_campaigns(store, findings)
            if not chosen:
                raise InputError("no campaign of these findings is confirmed in the console: nothing to share",
                                 source=str(cases))
        else:
            chosen = read_confirmed(confirmed)  # type: ignore[arg-type]
        bundle, rep = export_campaigns(findings, chosen, _need(events, "--events", cfg, "events"),
                                       accounts or cfg.get("accounts"),
                                       load_keyring(_need(keyring, "--keyring", cfg, "keyring")), opts, pol,
                                       oprf=_oprf_client(oprf, user, cfg),
                                       signing_key=None if profile == "opencti" else
                                       _signing_key(signing_key or cfg.get("signing_key")))
        if profile == "opencti":
            from distillguard.intel.policy import check_bundle
            from distillguard.intel.stix import opencti_profile, validate

            bundle = opencti_profile(bundle)
            rep.policy_issues = [str(i) for i in check_bundle(bundle, pol)]
            errs, warns = validate(bundle)
            rep.stix_errors, rep.stix_warnings = errs, len(warns)
        elif profile != "distillguard":
            raise typer.BadParameter("--profile must be distillguard or opencti")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(bundle, indent=1))
        console.print(f"[green]bundle:[/] {out_path}: {rep.campaigns} campaign(s), {rep.indicators} indicator(s) "
                      + ", ".join(f"{k}={v}" for k, v in sorted(rep.by_kind.items())))
        for why, n in sorted(rep.held_back.items()):
            console.print(f"  held back {n} × {why}")
        if rep.policy_issues or rep.stix_errors:
            for i in rep.policy_issues[:20]:
                console.print(f"  [red]policy:[/] {escape(i)}")
            for e in rep.stix_errors[:20]:
                console.print(f"  [red]stix:[/] {escape(e)}")
            console.print("[red]this bundle would be refused; fix the policy or the findings[/]")
            raise typer.Exit(2)
        console.print(f"policy {pol.name} v{pol.version}: OK; OASIS validator: no errors ({rep.stix_warnings} warning(s))")
        if store is not None:
            from distillguard.console.decisions import record_share
            from distillguard.intel.stix import stable_id

            stix_ids = {cid: stable_id("campaign", opts.org, cid, key=opts.id_key) for cid in chosen}
            n = record_share(store, findings, bundle, out_path, stix_ids)
            console.print(f"console: {n} case(s) marked shared (dismissing one now writes a retraction)")

    @intel.command("check")
    @friendly_errors
    def check(bundle: Path = typer.Argument(..., help="Bundle JSON."),
              policy: Optional[Path] = typer.Option(None, "--policy")) -> None:
        """Check a bundle against the sharing policy and the OASIS STIX validator."""
        from distillguard.intel.policy import check_bundle, load_policy
        from distillguard.intel.stix import validate

        doc = _load_json(bundle)
        pol = load_policy(policy)
        issues = check_bundle(doc, pol)
        errs, warns = validate(doc) if not issues else ([], [])
        for i in issues:
            console.print(f"[red]policy:[/] {escape(str(i))}")
        for e in errs:
            console.print(f"[red]stix:[/] {escape(e)}")
        if issues or errs:
            raise typer.Exit(2)
        console.print(f"[green]OK[/]: policy {pol.name} v{pol.version}; STIX valid ({len(warns)} warning(s))")

    @intel.command("push")
    @friendly_errors
    def push(bundle: Path = typer.Argument(...), url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
             audit: Optional[Path] = typer.Option(None, "--audit", help="Audit log folder."),
             audit_key: Optional[Path] = AuditKeyOpt,
             standard_server: bool = typer.Option(False, "--standard-server", help="The collection is on a generic "
                                                  "TAXII server such as OASIS medallion: leave the extension-definition "
                                                  "out (medallion 3.0.0 fails every pull once a collection holds one)."),
             policy: Optional[Path] = typer.Option(None, "--policy"),
             config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Send a bundle: policy guard, STIX validation, TAXII add-objects, audit entry.

        Large bundles are split into envelopes that fit the API root's max_content_length
        (one audit entry each). If a push fails half-way, run the same command again: only
        what the server has not yet accepted is sent.
        """
        from distillguard.intel.audit import AuditLog
        from distillguard.intel.policy import load_policy
        from distillguard.intel.taxii import push as do_push

        cfg = _intel_cfg(config, set_)
        ep = _endpoint(_need(url, "--url", cfg, "url"), user or cfg.get("user"),
                       "DISTILLGUARD_TAXII_TOKEN", "DISTILLGUARD_TAXII_PASSWORD")
        from distillguard.intel.taxii import STANDARD_SERVER_OMIT

        res = do_push(_load_json(bundle), ep, load_policy(policy or cfg.get("policy")),
                      AuditLog(_need(audit, "--audit", cfg, "audit"),
                               key=_audit_key(audit_key or cfg.get("audit_key"), create=True)),
                      omit_types=STANDARD_SERVER_OMIT if standard_server or cfg.get("standard_server") else ())
        console.print(f"[green]pushed:[/] status {res.status}, {res.success} accepted, {res.failure} refused "
                      f"in {res.envelopes} envelope(s) sized to the server's max_content_length"
                      + (f"; {res.skipped} already accepted by an earlier try" if res.skipped else "")
                      + f" (audit entry {res.audit_seq})")
        for f in res.failures[:10]:
            console.print(f"  [red]refused[/] {f.get('id')}: {f.get('message')}")
        if res.failure:
            raise typer.Exit(1)

    @intel.command("pull")
    @friendly_errors
    def pull(url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
             state: Optional[Path] = typer.Option(None, "--state", help="Local intel state folder."),
             full: bool = typer.Option(False, "--full", help="Ignore the checkpoint and fetch everything."),
             trusted_keys: Optional[Path] = typer.Option(None, "--trusted-keys", help="TOML of identity id = "
                                                         "\"base64 Ed25519 public key\": objects claiming those "
                                                         "members are accepted only when signed by them "
                                                         "(also intel.trusted_keys)."),
             config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Fetch objects added since the last pull; report retractions of indicators you matched."""
        from distillguard.intel.store import IntelStore
        from distillguard.intel.taxii import pull as do_pull

        cfg = _intel_cfg(config, set_)
        ep = _endpoint(_need(url, "--url", cfg, "url"), user or cfg.get("user"),
                       "DISTILLGUARD_TAXII_TOKEN", "DISTILLGUARD_TAXII_PASSWORD")
        st_dir = Path(_need(state, "--state", cfg, "state"))
        res = do_pull(ep, IntelStore(st_dir, trusted_keys=_trusted_keys(trusted_keys, cfg)), full=full)
        d = res.delta
        console.print(f"[green]pulled[/] {res.fetched} object(s): {d.new} new, {d.updated} updated, "
                      f"{d.unchanged} unchanged; checkpoint {res.checkpoint}")
        _report_retractions(st_dir, d.retracted + d.disputed)
        if d.refused:
            console.print(f"[red]{len(d.refused)} forged version(s) refused[/] (only an object's creator may "
                          "version or revoke it):")
            for why in d.refused[:10]:
                console.print(f"  {escape(why)}")

    @intel.command("match")
    @friendly_errors
    def match_cmd(state: Optional[Path] = typer.Option(None, "--state"),
                  events: Optional[Path] = typer.Option(None, "--events"),
                  accounts: Optional[Path] = typer.Option(None, "--accounts"),
                  keyring: Optional[Path] = typer.Option(None, "--keyring"),
                  out_path: Path = typer.Option(..., "--out", help="matches.parquet to write."),
                  threshold: float = typer.Option(0.2, help="Template sketch similarity needed to match."),
                  oprf: Optional[str] = OprfOpt, user: Optional[str] = UserOpt, map_: Optional[str] = MapOpt,
                  accounts_map: Optional[str] = typer.Option(None, "--accounts-map", help="Mapping (profile or TOML) "
                                                             "for an accounts table in your own format."),
                  config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Match pulled indicators against your accounts and events -> matches.parquet.

        --events/--accounts are canonical Parquet, or your own logs read through --map /
        --accounts-map (docs/mappings.md), validated as scan validates them.
        OPRF-token indicators (emails, cards, IPs, subnets) match only with --oprf: your own
        values are evaluated blind by the key holder, one evaluation per distinct value.
        """
        import tempfile
        from distillguard.intel.artefacts import connect
        from distillguard.intel.hashing import load_keyring
        from distillguard.intel.match import match, write_matches
        from distillguard.intel.store import IntelStore

        cfg = _intel_cfg(config, set_)
        st_dir = Path(_need(state, "--state", cfg, "state"))
        store = IntelStore(st_dir)
        client = _oprf_client(oprf, user, cfg, cache=st_dir / "oprf-cache.sqlite")
        try:
            with tempfile.TemporaryDirectory(prefix="dg-intel-") as tmp:
                ev = _canonical(_need(events, "--events", cfg, "events"), "events", map_, Path(tmp))
                acc = accounts or cfg.get("accounts")
                con = connect(ev, _canonical(acc, "accounts", accounts_map, Path(tmp)) if acc else None)
                t = match(store.indicators(), con, load_keyring(_need(keyring, "--keyring", cfg, "keyring")),
                          sketch_threshold=threshold, oprf=client)
                con.close()
        finally:
            if client is not None:
                client.close()
        p = write_matches(t, out_path)
        _remember_matches(st_dir, p)
        accs = len(set(t.column("account_id").to_pylist()))
        console.print(f"[green]matches:[/] {p}: {t.num_rows} match(es) on {accs} account(s)")
        console.print(f"use in scan: --set detectors.intel_match.params.matches='\"{p}\"'")

    @intel.command("decide")
    @friendly_errors
    def decide_cmd(matches: Path = typer.Argument(...), shadow: bool = typer.Option(False, "--shadow"),
                   config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Show what the local trust policy does with each matched account."""
        from distillguard.intel.match import read_matches
        from distillguard.intel.trust import TrustPolicy, decide

        cfg = _intel_cfg(config, set_)
        tp = dict(cfg.get("trust", {}))
        if shadow:
            tp["shadow"] = True
        d = decide(read_matches(matches), TrustPolicy.from_dict(tp))
        t = Table("account", "action", "score", "enforced", "corroboration", "reason")
        for r in d.to_pylist():
            t.add_row(r["account_id"], r["action"], f"{r['score']:.2f}", str(r["enforced"]),
                      f"{r['corroboration']:.2f}", r["reason"])
        out.print(t)

    @intel.command("retract")
    @friendly_errors
    def retract(indicator_id: str = typer.Argument(...),
                from_bundle: Path = typer.Option(..., "--from", help="A bundle you sent that holds the indicator."),
                out_path: Path = typer.Option(..., "--out"), signing_key: Optional[Path] = SigningKeyOpt) -> None:
        """Revoke one of your indicators everywhere: a new version with revoked=true (push it)."""
        from distillguard.intel.stix import revoke

        doc = _load_json(from_bundle)
        objs = doc.get("objects", [])
        ind = next((o for o in objs if o.get("id") == indicator_id), None)
        if ind is None:
            raise InputError(f"{indicator_id} is not in this bundle", source=str(from_bundle))
        head = [o for o in objs if o.get("type") in ("marking-definition", "extension-definition")
                or (o.get("type") == "identity")]
        new = revoke({k: v for k, v in ind.items() if k != "x_distillguard_signature"})
        key = _signing_key(signing_key)
        if key is not None:
            new = key.sign(new)
        bundle = {"type": "bundle", "id": _new_bundle_id(), "objects": head + [new]}
        out_path.write_text(json.dumps(bundle, indent=1))
        console.print(f"[green]retraction:[/] {out_path} (push it to reach every member on their next pull)")

    @intel.command("dispute")
    @friendly_errors
    def dispute(indicator_id: str = typer.Argument(...), out_path: Path = typer.Option(..., "--out"),
                org: Optional[str] = typer.Option(None, "--org"), identity: Optional[str] = typer.Option(None, "--identity"),
                signing_key: Optional[Path] = SigningKeyOpt,
                config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Report someone's indicator as a false positive (opinion strongly-disagree; push it)."""
        from distillguard.intel.stix import false_positive_opinion, wrap

        cfg = _intel_cfg(config, set_)
        o = _need(org, "--org", cfg, "org")
        ident = identity or cfg.get("identity")
        bundle = wrap([false_positive_opinion(indicator_id, o, identity_id=ident)], o, identity_id=ident)
        key = _signing_key(signing_key or cfg.get("signing_key"))
        if key is not None:
            from distillguard.intel.signing import sign_bundle
            from distillguard.intel.stix import org_identity_id

            bundle = sign_bundle(bundle, key, ident or org_identity_id(o))
        out_path.write_text(json.dumps(bundle, indent=1))
        console.print(f"[green]false-positive report:[/] {out_path}")

    @audit_app.command("verify")
    @friendly_errors
    def audit_verify(folder: Path = typer.Argument(..., help="Audit log folder."),
                     head: Optional[str] = typer.Option(None, "--head", help="Expected latest hash (anchored elsewhere)."),
                     audit_key: Optional[Path] = AuditKeyOpt,
                     config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Check the hash chain, HEAD (so removed last entries or an emptied log are caught) and
        the kept copies of what was sent; exit 2 on tampering."""
        from distillguard.intel.audit import AuditLog

        cfg = _intel_cfg(config, set_)
        rep = AuditLog(folder, key=_audit_key(audit_key or cfg.get("audit_key"), create=False)).verify(expect_head=head)
        console.print(f"[green]audit log intact:[/] {rep.entries} entries, head {rep.head}")

    @audit_app.command("show")
    @friendly_errors
    def audit_show(folder: Path = typer.Argument(...)) -> None:
        """What was shared, when, with whom, under which policy version."""
        from distillguard.intel.audit import AuditLog

        t = Table("#", "when", "action", "destination", "policy", "objects", "indicators")
        for e in AuditLog(folder).entries():
            s = e.get("summary", {})
            t.add_row(str(e["seq"]), e["ts"], e["action"], e["destination"], f"{e['policy_name']} v{e['policy_version']}",
                      str(s.get("objects", "")), str(len(s.get("indicator_ids", []))))
        out.print(t)

    @psi_app.command("request")
    @friendly_errors
    def psi_request(accounts: Path = typer.Argument(..., help="Your accounts Parquet (emails are read locally)."),
                    only: Optional[Path] = typer.Option(None, "--only", help="Account ids to ask about (one per line)."),
                    out_path: Path = typer.Option(..., "--out", help="Request file to send."),
                    state: Path = typer.Option(..., "--state", help="Secret state file to keep.")) -> None:
        """Step 1: a blinded request for your suspects' emails."""
        from distillguard.intel.psi import make_request

        emails = _emails(accounts, _ids(only) if only else None)
        st, req = make_request("email", list(emails.values()))
        out_path.write_bytes(req)
        state.write_bytes(st.to_bytes())
        state.chmod(0o600)
        console.print(f"[green]PSI request:[/] {out_path} ({len(st.items)} item(s)); keep {state} secret")

    @psi_app.command("respond")
    @friendly_errors
    def psi_respond(findings: Path = typer.Argument(...), confirmed: Path = typer.Option(..., "--confirmed"),
                    accounts: Path = typer.Option(..., "--accounts"), request: Path = typer.Option(..., "--request"),
                    out_path: Path = typer.Option(..., "--out")) -> None:
        """Step 2: answer with the emails of your confirmed campaigns' accounts only."""
        from distillguard.findings import read_findings
        from distillguard.intel.export import read_confirmed
        from distillguard.intel.psi import respond

        f = read_findings(findings)
        want = set(read_confirmed(confirmed))
        ids = {a for c in f.campaigns if c.id in want for a in c.account_ids}
        emails = _emails(accounts, ids)
        out_path.write_bytes(respond("email", list(emails.values()), request.read_bytes()))
        console.print(f"[green]PSI response:[/] {out_path} (from {len(emails)} confirmed account email(s))")

    @psi_app.command("result")
    @friendly_errors
    def psi_result(accounts: Path = typer.Argument(...), state: Path = typer.Option(..., "--state"),
                   response: Path = typer.Option(..., "--response")) -> None:
        """Step 3: which of your accounts' emails the other member also confirmed."""
        from distillguard.intel.hashing import normalise
        from distillguard.intel.psi import QueryState, intersect

        st = QueryState.from_bytes(state.read_bytes())
        common = set(intersect(st, response.read_bytes()))
        hits = sorted(a for a, e in _emails(accounts, None).items() if normalise("email", e) in common)
        console.print(f"[green]{len(hits)} account(s)[/] share an email with the other member's confirmed campaigns")
        for a in hits:
            out.print(a)


def _new_bundle_id() -> str:
    import uuid

    return f"bundle--{uuid.uuid4()}"


def _ids(path: Path) -> set[str]:
    return {ln.strip() for ln in path.read_text().splitlines() if ln.strip()}


def _emails(accounts: Path, only: set[str] | None) -> dict[str, str]:
    import duckdb

    src = str(accounts / "**" / "*.parquet") if accounts.is_dir() else str(accounts)
    rows = duckdb.sql(f"SELECT account_id, email FROM read_parquet('{src}', union_by_name=true) "
                      "WHERE email IS NOT NULL").fetchall()
    return {a: e for a, e in rows if only is None or a in only}


MATCHES_INDEX = "matches_files.json"


def _remember_matches(state: Path, path: Path) -> None:
    """Note where matches were written, so a later pull can say who acted on a retraction."""
    idx = state / MATCHES_INDEX
    paths = json.loads(idx.read_text()) if idx.exists() else []
    if str(path.resolve()) not in paths:
        paths.append(str(path.resolve()))
    state.mkdir(parents=True, exist_ok=True)
    idx.write_text(json.dumps(paths))


def _matches_paths(state: Path) -> list[Path]:
    idx = state / MATCHES_INDEX
    return [Path(p) for p in json.loads(idx.read_text()) if Path(p).exists()] if idx.exists() else []


def _report_retractions(state: Path, changed: list[str]) -> None:
    """Tell the member which indicators it had matched on were retracted or disputed."""
    if not changed:
        return
    import pyarrow.parquet as pq

    console.print(f"[yellow]{len(changed)} indicator(s) retracted or disputed since the last pull[/]")
    for mf in _matches_paths(state):
        t = pq.read_table(mf, columns=["account_id", "indicator_id"]).to_pylist()
        hit = sorted({r["account_id"] for r in t if r["indicator_id"] in set(changed)})
        if hit:
            console.print(f"  [yellow]you matched on them[/] in {mf}: {len(hit)} account(s), e.g. {', '.join(hit[:5])}; "
                          "re-run `intel match` and lift any action taken on them")
