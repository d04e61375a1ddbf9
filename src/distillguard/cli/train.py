"""`distillguard train`: fit an optional supervised scorer from labelled findings."""

from __future__ import annotations

from pathlib import Path

import typer

from distillguard.cli._common import console, friendly_errors
from distillguard.errors import InputError


def _read_labels(path: Path):  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise InputError("labels file not found", source=str(path))
    if path.suffix in (".sqlite", ".sqlite3", ".db"):
        # the analyst console's case store: its confirmed and dismissed cases are the labels
        from distillguard.console.decisions import labels
        from distillguard.console.store import CaseStore

        t = labels(CaseStore(path))
        if t.num_rows == 0:
            raise InputError("no decided case in this console case store yet", source=str(path))
        return t
    if path.is_dir():
        path = path / "labels.parquet"
    try:
        if path.suffix == ".parquet":
            t = pq.read_table(path)
        else:
            import pyarrow.json as pj

            t = pj.read_json(path)
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"cannot read labels: {e}", source=str(path)) from e
    missing = {"account_id", "label"} - set(t.column_names)
    if missing:
        raise InputError(f"labels lack columns {sorted(missing)}", source=str(path))
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def train(
        findings: list[Path] = typer.Option(..., "--findings", help="Findings folder(s) written by scan (repeatable)."),
        labels: Path = typer.Option(..., "--labels", help="Labels (parquet or jsonl; account_id, label), or the "
                                    "analyst console's cases.sqlite (confirmed → distillation, dismissed → benign)."),
        out: Path = typer.Option(..., "--out", "-o", help="Model file to write (use with scan --model)."),
        seed: int = typer.Option(0, help="Random seed."),
    ) -> None:
        """Fit gradient boosting on the signal scores of scanned, labelled accounts.

        Train on worlds (or labelled history) other than those you will scan: a model
        scored on its own training accounts says nothing about new attackers.
        """
        from distillguard.decide.model import train as fit

        summary = fit(list(findings), _read_labels(labels), out, seed=seed)
        console.print(f"trained on {summary['rows']:,} accounts ({summary['positives']:,} distillation) "
                      f"with features {', '.join(summary['features'])}")
        console.print(f"[green]model:[/] {out}")
