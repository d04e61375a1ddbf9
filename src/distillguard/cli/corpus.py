"""`distillguard corpus`: build and inspect known-corpus reference sketches (signal 6)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distillguard.cli._common import console, friendly_errors, out, progress


def register(app: typer.Typer) -> None:
    corpus_app = typer.Typer(help="Build and inspect known-corpus indexes for the known_corpus signal.",
                             no_args_is_help=True)

    @corpus_app.command("index")
    @friendly_errors
    def index(
        path: Path = typer.Argument(..., help="Corpus folder (read recursively) or file: *.jsonl[.gz] records "
                                              "with 'turns' (or 'prompt'/'text'), or *.txt[.gz] one prompt per line."),
        out_path: Path = typer.Option(..., "--out", "-o", help="Index file to write (Parquet, no prompt text)."),
        min_tokens: int = typer.Option(4, help="Skip prompts shorter than this many tokens."),
    ) -> None:
        """Build compact sketches (exact hashes + MinHash LSH bands of masked prompts) of a corpus.

        Use it in a scan with: --set detectors.known_corpus.params.index=OUT. Never index
        the files a benchmark's attackers draw from (docs/templates-and-corpus.md).
        """
        from distillguard.corpus import build_index

        with progress() as bar:
            task = bar.add_task("sketching prompts", total=None)
            meta = build_index(path, out_path, min_tokens=min_tokens, on_prompts=lambda n: bar.advance(task, n))
        for s in meta["sources"]:  # type: ignore[union-attr]
            console.print(f"  {s['name']}: {s['indexed']:,} of {s['prompts']:,} prompts")
        size = out_path.stat().st_size
        console.print(f"[green]indexed {meta['indexed']:,} distinct prompts[/] → {out_path} ({size / 1e6:.1f} MB)")

    @corpus_app.command("info")
    @friendly_errors
    def info(path: Path = typer.Argument(..., help="An index written by `corpus index`.")) -> None:
        """Print an index's sources, counts and sketch parameters as JSON."""
        from distillguard.corpus import load_index

        out.print_json(json.dumps(load_index(path).meta))

    app.add_typer(corpus_app, name="corpus")
