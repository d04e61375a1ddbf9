"""`distillguard validate`: check files against the traffic contract before a scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from distillguard.cli._common import ConfigOpt, SetOpt, console, friendly_errors, print_ingest_report, progress, settings_from
from distillguard.ingest import ingest


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def validate(
        inputs: str = typer.Argument(..., help="File, folder or glob of events (or accounts with --kind accounts)."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for canonical Parquet and the quarantine file."),
        kind: str = typer.Option("events", help="events or accounts."),
        config: Optional[Path] = ConfigOpt,
        set_: Optional[list[str]] = SetOpt,
    ) -> None:
        """Check a provider's logs against the contract (docs/schema.md) and normalise them.

        Every row ends up either in OUT/<kind>/ (canonical Parquet) or in
        OUT/<kind>.quarantine.jsonl with its file, row number and reason; the counts add up.
        """
        if kind not in ("events", "accounts"):
            raise typer.BadParameter("kind must be events or accounts")
        settings = settings_from(config, set_)
        with progress() as bar:
            task = bar.add_task(f"reading {kind}", total=None)
            report = ingest(inputs, kind, out, settings.ingest, on_rows=lambda n: bar.advance(task, n))
        print_ingest_report(report)
        (out / f"{kind}.ingest.json").write_text(json.dumps(report.to_dict(), indent=2))
        console.print(f"[green]canonical {kind}:[/] {report.output}")
