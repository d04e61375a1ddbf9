"""`distillguard replay`: stream a traffic log into a running guard, in time order."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from distillguard.cli._common import (ConfigOpt, EncodingOpt, MapOpt, SetOpt, console, friendly_errors, one_or_many,
                                      progress, settings_from)


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def replay(
        events: list[str] = typer.Argument(..., help="Events: files, folders or globs (any contract format, or "
                                           "a provider format with --map)."),
        to: str = typer.Option(..., "--to", help="Base URL of the guard, e.g. http://127.0.0.1:8707"),
        speed: float = typer.Option(0.0, help="Event-time speed-up (60 = one hour per minute); 0 = as fast as possible."),
        batch: int = typer.Option(100, min=1, help="Events per request."),
        accounts: Optional[str] = typer.Option(
            None, "--accounts", help="Accounts table: each record is sent to POST /v1/accounts before the account's "
                                     "first event (identity facts for live linking; needs the guard's service.admin_token, "
                                     "from --set or $DISTILLGUARD_ADMIN_TOKEN). Default: accounts.* beside a folder of "
                                     "events, if present."),
        map_: Optional[str] = MapOpt,
        encoding: Optional[str] = EncodingOpt,
        config: Optional[Path] = ConfigOpt,
        set_: Optional[list[str]] = SetOpt,
    ) -> None:
        """Replay a log into `distillguard serve` and summarise the actions it took."""
        import httpx

        from distillguard.errors import InputError
        from distillguard.service.replay import replay as run

        settings = settings_from(config, set_, encoding)
        if accounts is None and len(events) == 1 and Path(events[0]).is_dir() \
                and any(Path(events[0]).glob("accounts.*")):
            accounts = events[0]
        if speed < 0:
            raise typer.BadParameter("speed must be >= 0")
        try:
            with progress() as bar:
                task = bar.add_task("replaying", total=None)
                summ = run(one_or_many(events), to, speed=speed, batch=batch, config=settings.ingest,
                           on_events=lambda n: bar.advance(task, n), accounts=accounts, mapping=map_,
                           admin_token=settings.service.admin_token)
        except httpx.TransportError as e:
            raise InputError(f"cannot reach the guard: {e}", source=to) from None
        t = Table(title=f"replayed {summ.events:,} events in {summ.seconds:.1f} s")
        for col in ("action", "events"):
            t.add_column(col)
        from distillguard.service.policy import ACTIONS

        for a in ACTIONS:
            t.add_row(a, f"{summ.actions[a]:,}")
        console.print(t)
        console.print(f"accounts acted on (challenged, throttled or blocked): {len(summ.first_action):,}; rejected events: {summ.errors:,}")
