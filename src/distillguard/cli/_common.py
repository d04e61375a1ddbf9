"""Shared CLI plumbing: one console, progress bars, config options and error display."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from distillguard.config import Settings, load_config
from distillguard.errors import DistillGuardError

console = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = typer.Option(None, "--config", "-c", help="TOML configuration file (see docs/configuration.md).",
                         exists=False, dir_okay=False)
SetOpt = typer.Option(None, "--set", help="Override one setting, e.g. --set scoring.flag=0.85 (repeatable).")


def settings_from(config: Optional[Path], overrides: Optional[list[str]]) -> Settings:
    return load_config(config, overrides or [])


def friendly_errors(fn: F) -> F:
    """Turn distillguard errors into a clear message and exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DistillGuardError as e:
            console.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True, highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def progress() -> Progress:
    """A progress bar that shows counts and elapsed time; quiet when not a terminal."""
    return Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False,
        disable=not console.is_terminal,
    )


def print_ingest_report(report: Any) -> None:
    """Print read/used/quarantined counts (they always add up) and the top reasons."""
    t = Table(title=f"{report.kind}: {len(report.files)} file(s)", show_header=True)
    t.add_column("read", justify="right")
    t.add_column("used", justify="right")
    t.add_column("quarantined", justify="right")
    t.add_row(f"{report.read:,}", f"{report.used:,}", f"{report.quarantined:,}")
    console.print(t)
    if report.quarantined:
        for reason, n in report.reasons.most_common(8):
            console.print(f"  [yellow]{n:,}[/] × {reason}")
        console.print(f"  quarantined rows with file, row and reason: {report.quarantine_file}")
