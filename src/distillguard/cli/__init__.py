"""The `distillguard` command line. Each sub-command lives in its own module here.

Flow of the commands mirrors the package: simulate → validate → scan (features,
detectors, campaigns, decisions) → evaluate / report → intel (share) → serve (respond).
"""

from __future__ import annotations

import importlib

import typer

from distillguard._version import __version__

app = typer.Typer(
    name="distillguard",
    help="Detect, explain, stop and share intelligence on adversarial distillation of LLM APIs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

# Each module defines register(app). Order = order in --help.
COMMAND_MODULES = ["demo", "simulate", "validate", "scan", "evaluate", "report", "corpus", "train", "intel", "hub", "serve", "replay"]
COMMAND_MODULES += ["provenance"]
COMMAND_MODULES += ["console"]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"distillguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Detect, explain, stop and share intelligence on adversarial distillation of LLM APIs."""


for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"distillguard.cli.{_name}")
    except ModuleNotFoundError as _e:  # a command whose module is not written yet
        if _e.name != f"distillguard.cli.{_name}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    app()
