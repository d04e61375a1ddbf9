"""`distillguard hub`: run the consortium TAXII 2.1 hub and manage its members.

    distillguard hub init --config hub.toml                 create the database
    distillguard hub add-member NAME --config hub.toml ...  credentials, identity and rights
    distillguard hub members --config hub.toml              list members (never secrets)
    distillguard hub serve --config hub.toml [--host --port --ssl-certfile --ssl-keyfile]
    distillguard hub oprf-rotate --config hub.toml          new OPRF key; old ones retire later
    distillguard hub oprf-usage --config hub.toml           OPRF evaluations per member
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from distillguard.cli._common import ConfigOpt, SetOpt, console, friendly_errors, out, settings_from
from distillguard.errors import ConfigError

if TYPE_CHECKING:
    from distillguard.hub.settings import HubSettings


def _hub_settings(config: Optional[Path], set_: Optional[list[str]]) -> "HubSettings":
    from distillguard.hub.settings import HubSettings

    return HubSettings.from_settings(settings_from(config, set_))


def register(app: typer.Typer) -> None:
    hub = typer.Typer(help="Run the consortium TAXII 2.1 hub (docs/hub.md).", no_args_is_help=True)
    app.add_typer(hub, name="hub")

    @hub.command("init")
    @friendly_errors
    def init(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Create (or upgrade) the hub database named by hub.database, with a first OPRF key."""
        from distillguard.hub.storage import open_storage

        from distillguard.intel.oprf import new_key

        hs = _hub_settings(config, set_)
        store = open_storage(hs.database)
        n = len(store.list_members())
        if not store.oprf_keys():
            store.save_oprf_key(new_key())
        store.close()
        console.print(f"[green]hub database ready:[/] {hs.database} ({n} member(s), "
                      f"{len(hs.collections)} collection(s))")

    @hub.command("add-member")
    @friendly_errors
    def add_member(
        name: str = typer.Argument(..., help="Member name (the HTTP Basic user name)."),
        identity: Optional[str] = typer.Option(None, help="The member's STIX identity id (identity--UUID); "
                                               "objects it posts must carry it as created_by_ref."),
        read: Optional[list[str]] = typer.Option(None, help="Collection id it may read ('*' for all; repeatable)."),
        write: Optional[list[str]] = typer.Option(None, help="Collection id it may write ('*' for all; repeatable)."),
        password: Optional[str] = typer.Option(None, help="Password for HTTP Basic (default: generate one)."),
        admin: bool = typer.Option(False, help="May read every member's POST statuses."),
        config: Optional[Path] = ConfigOpt,
        set_: Optional[list[str]] = SetOpt,
    ) -> None:
        """Create or replace a member; prints its password and API token ONCE (only hashes are stored).

        Without --read and --write the member may read and write every collection. Give
        either and the member gets exactly what you list: --read '*' alone makes a
        read-only member, --write ID alone a write-only one. Replacing a member (new
        password, fewer rights) takes effect on its next request.
        """
        from distillguard.hub.auth import default_identity, hash_password, hash_token, new_token, parse_rights
        from distillguard.hub.storage import Member, open_storage

        hs = _hub_settings(config, set_)
        known = {c.id for c in hs.collections} | {"*"}
        if read is None and write is None:
            read, write = ["*"], ["*"]
        rights = parse_rights(read or [], write or [])
        unknown = sorted(set(rights) - known)
        if unknown:
            raise ConfigError(f"unknown collection(s) {unknown}; known: {sorted(known)}", source="--read/--write")
        ident = identity or default_identity(name)
        if not ident.startswith("identity--"):
            raise ConfigError("must look like identity--<uuid>", source="--identity")
        pw = password or secrets.token_urlsafe(18)
        token = new_token()
        store = open_storage(hs.database)
        try:
            store.save_member(Member(name=name, identity_id=ident, rights=rights, admin=admin,
                                     password_hash=hash_password(pw), token_hash=hash_token(token)))
        finally:
            store.close()
        console.print(f"[green]member {name}[/] identity {ident} rights {rights}")
        console.print("[yellow]store these now; the hub keeps only their hashes[/]")
        out.print(f"password={pw}")
        out.print(f"token={token}")

    @hub.command("members")
    @friendly_errors
    def members(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """List members, their identities and rights (never credentials)."""
        from distillguard.hub.storage import open_storage

        store = open_storage(_hub_settings(config, set_).database)
        try:
            for m in store.list_members():
                out.print(f"{m.name}\t{m.identity_id}\t{m.rights}\t{'admin' if m.admin else ''}")
        finally:
            store.close()

    @hub.command("oprf-rotate")
    @friendly_errors
    def oprf_rotate(
        retire_after_days: float = typer.Option(180.0, help="Keep evaluating the old key(s) this many days so "
                                                "indicators made under them still match (the longest "
                                                "indicator TTL is 180 days)."),
        config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
    ) -> None:
        """Start a new OPRF key (the current one for new exports); schedule the old ones' retirement.

        Members re-fetch /hub/oprf/keys on their next export or match; pin the new public key
        it prints if you pin keys (intel.oprf_public_keys).
        """
        from datetime import datetime, timedelta, timezone

        from distillguard.hub.storage import format_ts, open_storage
        from distillguard.intel.oprf import b64, new_key

        store = open_storage(_hub_settings(config, set_).database)
        try:
            retire = format_ts(datetime.now(timezone.utc) + timedelta(days=retire_after_days))
            for k in store.oprf_keys():
                if k.retired is None or k.retired > retire:
                    store.save_oprf_key(k.__class__(k.id, k.seed, k.created, retire))
                    console.print(f"key {k.id}: evaluated until {retire}")
            key = new_key()
            store.save_oprf_key(key)
        finally:
            store.close()
        console.print(f"[green]new current OPRF key[/] {key.id}")
        out.print(f"public_key={b64(key.public_key())}")

    @hub.command("oprf-usage")
    @friendly_errors
    def oprf_usage(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """OPRF evaluations per member (the audit trail of who asked the key holder how often)."""
        from distillguard.hub.storage import open_storage

        store = open_storage(_hub_settings(config, set_).database)
        try:
            totals: dict[str, list[int]] = {}
            for name, _ts, _kid, n in store.oprf_usage():
                t = totals.setdefault(name, [0, 0])
                t[0] += 1
                t[1] += n
            for name, (reqs, evals) in sorted(totals.items()):
                out.print(f"{name}\t{reqs} request(s)\t{evals} evaluation(s)")
        finally:
            store.close()

    @hub.command("serve")
    @friendly_errors
    def serve(
        config: Optional[Path] = ConfigOpt,
        set_: Optional[list[str]] = SetOpt,
        host: Optional[str] = typer.Option(None, help="Bind address (default hub.host)."),
        port: Optional[int] = typer.Option(None, help="Port (default hub.port)."),
        ssl_certfile: Optional[Path] = typer.Option(None, help="TLS certificate (PEM), passed to uvicorn."),
        ssl_keyfile: Optional[Path] = typer.Option(None, help="TLS private key (PEM), passed to uvicorn."),
    ) -> None:
        """Serve TAXII 2.1 at /taxii2/ (plus /hub/metrics and /hub/indicators).

        HTTP Basic and tokens are refused over plain HTTP unless hub.allow_insecure_http is
        true; behind a TLS-terminating proxy, set hub.forwarded_allow_ips to the proxy's
        address (X-Forwarded-* headers from anyone else are ignored).
        """
        import uvicorn

        from distillguard.hub.app import create_app, uvicorn_options

        hs = _hub_settings(config, set_)
        cert = str(ssl_certfile) if ssl_certfile else hs.ssl_certfile
        key = str(ssl_keyfile) if ssl_keyfile else hs.ssl_keyfile
        if bool(cert) != bool(key):
            raise ConfigError("give both --ssl-certfile and --ssl-keyfile (or neither)")
        for label, f in (("ssl_certfile", cert), ("ssl_keyfile", key)):
            if f and not Path(f).is_file():
                raise ConfigError(f"{f} does not exist", source=label)
        if not cert and not hs.allow_insecure_http:
            console.print("[yellow]warning:[/] no TLS certificate: every authenticated request will be refused "
                          "(set hub.allow_insecure_http = true for local development only)")
        application = create_app(hs)
        scheme = "https" if cert else "http"
        console.print(f"[green]hub serving[/] {scheme}://{host or hs.host}:{port or hs.port}/taxii2/")
        uvicorn.run(application, host=host or hs.host, port=port or hs.port, ssl_certfile=cert, ssl_keyfile=key,
                    log_level="info", **uvicorn_options(hs))
