"""`distillguard simulate`: write a labelled multi-provider world (docs/simulator.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from distillguard.cli._common import console, friendly_errors, progress


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def simulate(
        out: Path = typer.Option(..., "--out", "-o", help="Folder to write the world into."),
        scenario: str = typer.Option("small", "--scenario", "-s",
                                     help="small | default | large | collective | PATH.toml"),
        seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same world."),
        corpus: Optional[Path] = typer.Option(None, "--corpus", help="Prompt corpus folder (<category>/<source>.jsonl.gz); "
                                              "default: the built-in generator."),
        events: Optional[int] = typer.Option(None, "--events", help="Rescale volumes to about this many requests."),
        fmt: str = typer.Option("parquet", "--format", help="Events file format: parquet | jsonl | csv."),
        responses: str = typer.Option("placeholder", "--responses", help="Response text: placeholder (short), builtin "
                                      "(generated answers and traces) or corpus (real ones from --corpus/responses)."),
    ) -> None:
        """Simulate benign customers and distillation campaigns across providers, with labels.

        Writes OUT/<provider>/{events,accounts,labels}, OUT/labels.parquet, OUT/manifest.json
        and OUT/scenario.resolved.toml. Deterministic for a given seed.
        """
        from distillguard.simulate.scenario import load_scenario
        from distillguard.simulate.world import FORMATS, expected_events, generate, write_world

        if fmt not in FORMATS:
            raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
        sc = load_scenario(scenario)
        n_groups = sum(len(g.providers or sc.providers) for g in sc.benign + sc.campaigns)
        with progress() as bar:
            task = bar.add_task(f"simulating {sc.world.name}", total=n_groups + 1)
            world = generate(sc, seed, corpus, events=events,
                             on_group=lambda name, n: bar.update(task, advance=1, description=f"{name}: {n:,} req"))
            if responses != "placeholder":
                from distillguard.simulate.responses import attach_world_responses

                bar.update(task, description=f"attaching {responses} responses")
                attach_world_responses(world, responses, corpus)
            bar.update(task, description=f"writing {out}")
            manifest = write_world(world, out, fmt)
            bar.update(task, advance=1, description="done")
        t = Table(title=f"world {sc.world.name} (seed {seed}, prompts: {world.corpus})")
        for col in ("provider", "events", "accounts", "distillation accounts", "campaigns"):
            t.add_column(col, justify="right" if col != "provider" else "left")
        for p, d in manifest["providers"].items():
            t.add_row(p, f"{d['events']:,}", f"{d['accounts']:,}", f"{d['distillation_accounts']:,}", str(len(d["campaigns"])))
        console.print(t)
        if events is not None:
            console.print(f"requested ~{events:,} events (estimate at scale 1: {expected_events(sc):,.0f})")
        console.print(f"[green]world written to[/] {out}")
