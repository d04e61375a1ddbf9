"""`distillguard demo`: the whole loop on built-in data, in about a minute.

Simulate a small multi-provider world (built-in prompt generator, no download), scan each
provider with every signal and with the trivial rate-limit baseline, evaluate both against
the labels, replay each provider through a cold guard to show which campaigns it stops live
and when, and point at the HTML reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pyarrow.parquet as pq
import typer
from rich.table import Table

from distillguard.cli._common import console, friendly_errors, out, progress


def _row(name: str, r: dict[str, Any]) -> list[str]:
    f = r["at_flag"]

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:.1%}"

    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    return [name, num(r["roc_auc"]), num(r["pr_auc"]), pct(f["recall"]), pct(f["benign_fpr"]),
            pct(r["campaign_recall"]), pct(r["harvested_share_overall"])]


def _live(world_dir: Path, providers: list[str], labels: Any) -> dict[str, Any]:
    """A cold guard (no batch seed) replays each provider in time order: when did it act?"""
    from distillguard.evaluate.live import live_outcome
    from distillguard.service.replay import replay_local

    t = Table(title="live: a cold guard replays the traffic in time order (no batch seed)")
    for col in ("campaign", "type", "accts", "acted", "first", "harvested"):
        t.add_column(col, justify="left" if col in ("campaign", "type") else "right", no_wrap=True)
    t.caption = ("accts: accounts; acted: accounts acted on; first: the campaign's request at which the guard first challenged, throttled or "
                 "blocked one of its accounts; harvested: requests made before each account was acted on")
    res: dict[str, Any] = {}
    benign = [0, 0, 0]
    for provider in providers:
        pdir = world_dir / provider
        with progress() as bar:
            task = bar.add_task(f"live replay {provider}", total=None)
            summ = replay_local(pdir / "events.parquet", accounts=pdir / "accounts.parquet",
                                on_events=lambda n: bar.advance(task, n))
        o = res[provider] = live_outcome(summ, labels, provider)
        for cid, c in sorted(o["campaigns"].items()):
            t.add_row(f"{provider}/{cid}", c["type"][:16], str(c["accounts"]), str(c["acted_on"]),
                      f"#{c['first_action_at']:,}" if c["first_action_at"] else "never",
                      f"{c['harvested']:,} ({c['harvested_share']:.0%})")
        benign = [benign[0] + o["benign_accounts"], benign[1] + o["benign_acted_on"], benign[2] + o["benign_blocked"]]
    out.print(t)
    console.print(f"live: benign accounts acted on {benign[1]} of {benign[0]}, blocked {benign[2]}")
    return res


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def demo(
        out_dir: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Folder for the world, findings and reports."),
        scenario: str = typer.Option("small", "--scenario", help="Scenario to simulate (small | default | PATH.toml)."),
        seed: int = typer.Option(7, "--seed", help="Random seed of the simulated world."),
        corpus: Optional[Path] = typer.Option(None, "--corpus", help="Prompt corpus folder instead of the built-in generator."),
    ) -> None:
        """Simulate → scan → evaluate on built-in data and write report.html per provider."""
        from distillguard.evaluate import evaluate
        from distillguard.scan.run import scan
        from distillguard.simulate.scenario import load_scenario
        from distillguard.simulate.world import generate, write_world

        world_dir = out_dir / "world"
        sc = load_scenario(scenario)
        with progress() as bar:
            task = bar.add_task(f"simulating {sc.world.name}", total=None)
            world = generate(sc, seed, corpus, on_group=lambda name, n: bar.update(task, description=f"simulating {name}"))
            manifest = write_world(world, world_dir, "parquet")
        labels = pq.read_table(world_dir / "labels.parquet")
        summary: dict[str, Any] = {"world": str(world_dir), "providers": {}}
        table = Table(title=f"demo: {sc.world.name} world, seed {seed}")
        for col in ("run", "ROC-AUC", "PR-AUC", "recall", "FPR", "found", "harvested"):
            table.add_column(col, justify="left" if col == "run" else "right", no_wrap=True)
        table.caption = ("recall and benign FPR at the flag verdict; found: campaigns with a member flagged; "
                         "harvested: campaign requests made before their accounts were flagged")
        for provider in manifest["providers"]:
            pdir = world_dir / provider
            runs = {"distillguard": None, "rate_limit": "rate_limit"}  # ours vs what gateways do
            summary["providers"][provider] = {}
            for name, only in runs.items():
                dest = out_dir / "findings" / provider / name
                with progress() as bar:
                    task = bar.add_task(f"scan {provider} ({name})", total=None)
                    res = scan(pdir, dest, detector=only, report=only is None,
                               step=lambda s: bar.update(task, description=f"scan {provider} ({name}): {s}"))
                import duckdb

                con = duckdb.connect()
                con.execute("SET TimeZone='UTC'")
                con.execute(f"CREATE VIEW events AS SELECT account_id, ts FROM read_parquet('{pdir / 'events.parquet'}')")
                r = evaluate(res.findings, labels, con, provider=provider)
                (dest / "evaluation.json").write_text(json.dumps(r, indent=2, default=str))
                summary["providers"][provider][name] = {"findings": str(dest), "evaluation": str(dest / "evaluation.json")}
                table.add_row(*_row(f"{provider}/{'ours' if only is None else name}", r))
        out.print(table)
        summary["live"] = _live(world_dir, manifest["providers"], labels)
        (out_dir / "demo.json").write_text(json.dumps(summary, indent=2, default=str))
        for provider, runs in summary["providers"].items():
            console.print(f"[green]report:[/] {Path(runs['distillguard']['findings']) / 'report.html'}")
        console.print("next: distillguard evaluate --findings DIR --labels "
                      f"{world_dir / 'labels.parquet'} for the full breakdown per persona and campaign",
                      soft_wrap=True)
        found = " ".join(str(Path(r["distillguard"]["findings"])) for r in summary["providers"].values())
        db = out_dir / "cases.sqlite"
        console.print("triage the demo's cases in the analyst console (docs/console.md; needs the console extra: "
                      "pip install -e '.\\[console]'):", soft_wrap=True)
        console.print(f"  distillguard console user add analyst --role reviewer --db {db}", soft_wrap=True,
                      highlight=False)
        console.print(f"  distillguard console {found} --db {db}   # then open http://127.0.0.1:8708",
                      soft_wrap=True, highlight=False)
