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


MapOpt = typer.Option(None, "--map", "-m", help="Read a provider's own log format through a mapping: a built-in "
                      "profile (openai, anthropic, litellm, otel) or a mapping TOML file (docs/mappings.md).")
EncodingOpt = typer.Option(None, "--encoding", help="Text encoding of CSV/JSONL input (default utf-8; e.g. latin-1, "
                           "cp1252). Bytes invalid in it quarantine their row.")


def settings_from(config: Optional[Path], overrides: Optional[list[str]], encoding: Optional[str] = None) -> Settings:
    s = load_config(config, overrides or [])
    if encoding:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            from distillguard.errors import InputError

            raise InputError(f"--encoding {encoding!r} is not a known text encoding (try utf-8, latin-1, cp1252)") from None
        s.ingest.encoding = encoding
    return s


def one_or_many(inputs: list[str]) -> str | list[str]:
    """Several paths (an unquoted shell glob) or one file, folder or glob."""
    return inputs[0] if len(inputs) == 1 else list(inputs)


def print_mapping(mapping: Any, filled: dict[str, int] | None = None, used: int = 0) -> None:
    """What each contract column was filled from (and, after ingest, in how many rows)."""
    title = f"mapping {mapping.name}" + (f" — {mapping.description}" if mapping.description else "")
    console.print(f"[bold]{escape(title)}[/]", soft_wrap=True, highlight=False)
    rows = mapping.describe()
    width = max(len(c) for c, _ in rows)
    for col, src in rows:
        n = (filled or {}).get(col)
        count = f"  [{n:,} / {used:,} rows]" if filled is not None and n is not None else ""
        console.print(f"  {col:<{width}} ← {escape(src)}{escape(count)}", soft_wrap=True, highlight=False)


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
