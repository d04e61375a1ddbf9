"""`distillguard serve`: the real-time guard (HTTP, FastAPI + uvicorn). See docs/service.md."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from distillguard.cli._common import ConfigOpt, SetOpt, console, friendly_errors, settings_from


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def serve(
        config: Optional[Path] = ConfigOpt,
        set_: Optional[list[str]] = SetOpt,
        host: Optional[str] = typer.Option(None, help="Listen address (default service.host)."),
        port: Optional[int] = typer.Option(None, help="Port (default service.port)."),
        log_level: str = typer.Option("warning", help="uvicorn log level."),
    ) -> None:
        """Score every API request as it happens and answer allow/throttle/challenge/block.

        State lives in service.state_path (SQLite + journal); a restart or crash keeps
        every decision. SIGTERM/Ctrl-C flushes everything before exiting.
        """
        import uvicorn

        from distillguard.service.app import create_app

        settings = settings_from(config, set_)
        cfg = settings.service
        app_ = create_app(settings)
        h, p = host or cfg.host, port if port is not None else cfg.port
        console.print(f"[green]distillguard guard[/] on http://{h}:{p}  state={cfg.state_path}  "
                      f"policy={cfg.policy_file or 'default'}  seed={app_.state.guard.seed.source or 'none'}")
        try:
            import uvloop  # noqa: F401
            loop = "uvloop"
        except ImportError:  # pragma: no cover - non-POSIX
            loop = "asyncio"
        uvicorn.run(app_, host=h, port=p, loop=loop, http="httptools", log_level=log_level, access_log=False,
                    timeout_graceful_shutdown=10)
