"""`distillguard console`: the analyst console (docs/console.md).

    console FINDINGS... [--db cases.sqlite] [--guard URL]   import the findings and serve the console
    console import FINDINGS... [--db DB]                    import only (cron after each scan)
    console user add NAME --role analyst|reviewer|compliance [--db DB]
    console user list [--db DB]
    console labels --out labels.parquet [--db DB]           decisions as training labels (train --labels)
    console log export --out FILE [--db DB] / console log verify [FILE] [--db DB] [--head HASH]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from distillguard.cli._common import ConfigOpt, SetOpt, console, friendly_errors, settings_from
from distillguard.errors import InputError

PASSWORD_ENV = "DISTILLGUARD_CONSOLE_PASSWORD"
SUBCOMMANDS = ("serve", "import", "user", "labels", "log")


class _DefaultServe(TyperGroup):
    """`console FINDINGS...` means `console serve FINDINGS...` (the common case stays short)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


DbOpt = typer.Option(None, "--db", help="SQLite case store (default console.db = cases.sqlite). Created if missing.")


def _store(db: Optional[Path], config: Optional[Path], set_: Optional[list[str]], *, must_exist: bool = False) -> Any:
    from distillguard.console.store import CaseStore

    path = Path(db or settings_from(config, set_).console.db)
    if must_exist and not path.exists():
        raise InputError("no case store here (distillguard console FINDINGS --db DB creates it)", source=str(path))
    return CaseStore(path)


def _import(store: Any, findings: list[Path], intel: Optional[str]) -> None:
    from distillguard.console.importer import import_findings

    for f in findings:
        rep = import_findings(store, f, intel)
        extra = [] if rep.with_events else ["no events found: no prompts or timelines"]
        if not rep.with_accounts:
            extra.append("no accounts table: no card or e-mail facts")
        if rep.allowlisted:
            extra.insert(0, f"{rep.allowlisted} new case(s) closed at once: their accounts are allowlisted")
        console.print(f"[green]imported[/] {f}: {rep.new} new case(s), {rep.updated} refreshed"
                      + (f" (provider {rep.provider})" if rep.provider else "")
                      + (f" — {'; '.join(extra)}" if extra else ""), soft_wrap=True)


def register(app: typer.Typer) -> None:
    cons = typer.Typer(cls=_DefaultServe, no_args_is_help=True,
                       help="The analyst console: a case queue over findings, decisions that reach the guard, "
                            "training labels and intel, and a hash-chained activity log (docs/console.md). "
                            "`distillguard console FINDINGS...` imports the findings and serves it.")
    app.add_typer(cons, name="console")
    user_app = typer.Typer(help="Console users (no default user or password exists).", no_args_is_help=True)
    cons.add_typer(user_app, name="user")
    log_app = typer.Typer(help="The console's activity log: export and verify.", no_args_is_help=True)
    cons.add_typer(log_app, name="log")

    @cons.command("serve")
    @friendly_errors
    def serve(
        findings: Optional[list[Path]] = typer.Argument(None, help="Findings folders to import before serving "
                                                        "(re-importing refreshes evidence, keeps decisions)."),
        db: Optional[Path] = DbOpt,
        host: Optional[str] = typer.Option(None, help="Listen address (default console.host = 127.0.0.1)."),
        port: Optional[int] = typer.Option(None, help="Port (default console.port = 8708)."),
        guard: Optional[str] = typer.Option(None, "--guard", help="The guard's URL (distillguard serve): decisions "
                                            "become its feedback. Token: console.guard_token or "
                                            "$DISTILLGUARD_ADMIN_TOKEN (the guard's service.admin_token)."),
        intel_matches: Optional[str] = typer.Option(None, "--intel-matches", help="intel match output "
                                                    "(matches.parquet) to show on case pages."),
        config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
        log_level: str = typer.Option("warning", help="uvicorn log level."),
    ) -> None:
        """Import findings into the case store and serve the console in the browser.

        Analysts triage the queue, open cases, and (reviewers) confirm, dismiss or allowlist,
        one by one or in batches with a dry run first. Every change is an activity in a
        hash-chained log. Create users first: distillguard console user add NAME --role reviewer.
        """
        import uvicorn

        from distillguard.console import auth

        try:
            from distillguard.console.app import create_app
        except ImportError as e:
            raise InputError(f"{auth.EXTRA_HINT} ({e})") from None
        from distillguard.console.decisions import Settings as Where

        s = settings_from(config, set_)
        cfg = s.console
        store = _store(db, config, set_)
        intel = intel_matches or cfg.intel_matches
        _import(store, list(findings or []), intel)
        where = Where(guard_url=guard or cfg.guard_url,
                      guard_token=cfg.guard_token or os.environ.get("DISTILLGUARD_ADMIN_TOKEN"),
                      retractions_dir=Path(cfg.retractions_dir) if cfg.retractions_dir
                      else Path(store.path).resolve().parent / "retractions")
        app_ = create_app(store, where, session_hours=cfg.session_hours, intel_loaded=bool(intel),
                          secure_cookies=cfg.secure_cookies)
        h, p = host or cfg.host, port if port is not None else cfg.port
        if not auth.users(store):
            console.print(f"[yellow]no console user yet:[/] distillguard console user add NAME --role reviewer "
                          f"--db {store.path}", soft_wrap=True)
        console.print(f"[green]distillguard console[/] on http://{h}:{p}  db={store.path}  "
                      f"guard={where.guard_url or 'none (decisions stay in the console)'}", soft_wrap=True)
        uvicorn.run(app_, host=h, port=p, log_level=log_level, access_log=False)

    @cons.command("import")
    @friendly_errors
    def import_cmd(findings: list[Path] = typer.Argument(..., help="Findings folders (accounts.parquet + campaigns.json)."),
                   db: Optional[Path] = DbOpt,
                   intel_matches: Optional[str] = typer.Option(None, "--intel-matches", help="matches.parquet to attach."),
                   config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
        """Import findings into the case store without serving (e.g. after each scan)."""
        store = _store(db, config, set_)
        _import(store, findings, intel_matches or settings_from(config, set_).console.intel_matches)

    @user_app.command("add")
    @friendly_errors
    def user_add(name: str = typer.Argument(..., help="User name (letters, digits, . _ - @)."),
                 role: str = typer.Option(..., "--role", help="analyst (triage) | reviewer (also decides) | "
                                          "compliance (read-only, sees the activity log)."),
                 password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from "
                                                     "stdin's first line instead of a prompt."),
                 db: Optional[Path] = DbOpt, config: Optional[Path] = ConfigOpt,
                 set_: Optional[list[str]] = SetOpt) -> None:
        """Create a user or reset one's password and role. The password comes from
        $DISTILLGUARD_CONSOLE_PASSWORD, --password-stdin, or a prompt; it is stored only as an Argon2id hash."""
        from distillguard.console.auth import MIN_PASSWORD, add_user

        pw = os.environ.get(PASSWORD_ENV)
        if password_stdin:
            pw = sys.stdin.readline().rstrip("\r\n")
        if pw is None:
            if not sys.stdin.isatty():
                raise InputError(f"no password: set ${PASSWORD_ENV}, pass --password-stdin, or run in a terminal")
            pw = typer.prompt(f"password for {name} (at least {MIN_PASSWORD} characters)", hide_input=True,
                              confirmation_prompt=True)
        u = add_user(_store(db, config, set_), name, role, pw)
        console.print(f"[green]user {u.name}[/] ({u.role}) ready; their old sessions, if any, were closed", soft_wrap=True)

    @user_app.command("list")
    @friendly_errors
    def user_list(db: Optional[Path] = DbOpt, config: Optional[Path] = ConfigOpt,
                  set_: Optional[list[str]] = SetOpt) -> None:
        """List users and roles."""
        from distillguard.console.auth import users

        for n, r, disabled in users(_store(db, config, set_, must_exist=True)):
            typer.echo(f"{n}\t{r}" + ("\tdisabled" if disabled else ""))

    @cons.command("labels")
    @friendly_errors
    def labels_cmd(out_path: Path = typer.Option(..., "--out", help="labels.parquet to write (account_id, label, "
                                                 "decision, case_id, decided_at, provider)."),
                   db: Optional[Path] = DbOpt, config: Optional[Path] = ConfigOpt,
                   set_: Optional[list[str]] = SetOpt) -> None:
        """Write the console's decisions as training labels: confirmed → distillation, dismissed or
        allowlisted → benign (latest decision per account). Use with distillguard train --labels."""
        import pyarrow.parquet as pq

        from distillguard.console.decisions import labels

        t = labels(_store(db, config, set_, must_exist=True))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(t, out_path)
        pos = sum(1 for x in t.column("label").to_pylist() if x == "distillation")
        console.print(f"[green]labels:[/] {out_path}: {t.num_rows} account(s), {pos} distillation, "
                      f"{t.num_rows - pos} benign", soft_wrap=True)

    @log_app.command("export")
    @friendly_errors
    def log_export(out_path: Path = typer.Option(..., "--out", help="JSONL file to write (one activity a line)."),
                   db: Optional[Path] = DbOpt, config: Optional[Path] = ConfigOpt,
                   set_: Optional[list[str]] = SetOpt) -> None:
        """Export every activity (who, when, what, why, notes, hashes); prints the head to anchor elsewhere."""
        from distillguard.console import activity

        store = _store(db, config, set_, must_exist=True)
        with store.lock:
            activity.verify(store.con)
            rep = activity.export_jsonl(store.con, out_path)
        console.print(f"[green]exported[/] {rep.entries} activities to {out_path}; head {rep.head}", soft_wrap=True)

    @log_app.command("verify")
    @friendly_errors
    def log_verify(file: Optional[Path] = typer.Argument(None, help="An exported JSONL file (default: the database)."),
                   head: Optional[str] = typer.Option(None, "--head", help="Expected latest hash (anchored elsewhere)."),
                   db: Optional[Path] = DbOpt, config: Optional[Path] = ConfigOpt,
                   set_: Optional[list[str]] = SetOpt) -> None:
        """Check the activity chain (edited, removed, inserted or reordered entries); exit 2 if broken."""
        from distillguard.console import activity

        if file is not None:
            if not file.exists():
                raise InputError("file not found", source=str(file))
            rep = activity.verify_jsonl(file, expect_head=head)
        else:
            store = _store(db, config, set_, must_exist=True)
            with store.lock:
                rep = activity.verify(store.con, expect_head=head)
        console.print(f"[green]activity log intact:[/] {rep.entries} activities, head {rep.head}", soft_wrap=True)
