"""`idaas router build|export`, `idaas serve` and `idaas demo`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

router_app = typer.Typer(help="The combined router: one registered model answering every task.", no_args_is_help=True)


@router_app.command("build")
def build(
    alias: str = typer.Option("production", help="which alias of each catalog model to bundle"),
    force_new: bool = typer.Option(
        False, "--new", help="register a new version even if one carries exactly these sub-model versions"
    ),
    allow_unreviewed: bool = typer.Option(
        False,
        "--allow-unreviewed",
        help="build even if a member lacks an approved review (marked; it can never reach production)",
    ),
) -> None:
    """Register a router version from the current @production version of each catalog model."""
    from serving.router import ROUTER_NAME, build_router

    version, plan, reused = build_router(alias=alias, reuse=not force_new, allow_unreviewed=allow_unreviewed)
    for task, (name, v) in plan.members.items():
        typer.echo(f"{task:<10} {name}/{v}")
    for name, why in plan.skipped.items():
        typer.echo(f"skipped    {name}: {why}")
    state = "reused existing" if reused else "registered"
    typer.echo(
        f"{state} {ROUTER_NAME} version {version.version}; promote it with "
        f"`idaas models promote {ROUTER_NAME} {version.version} --to staging`"
    )


@router_app.command("export")
def export(
    version: str = typer.Argument(..., help="router version number"),
    out: Path = typer.Option(Path("build/router"), help="folder to write the model into"),
    allow_unreviewed: bool = typer.Option(False, "--allow-unreviewed", help="export even what the serve gate refuses"),
) -> None:
    """Write a router version's self-contained model folder (for serving/Dockerfile)."""
    from serving.router import export_router

    typer.echo(f"exported to {export_router(version, out, allow_unreviewed=allow_unreviewed)}")


def register(app: typer.Typer) -> None:
    app.add_typer(router_app, name="router")

    @app.command()
    def serve(
        model_uri: str = typer.Option("models:/idaas@production", "--model-uri", "-m"),
        host: str = typer.Option("127.0.0.1", help="0.0.0.0 to accept connections from other hosts"),
        port: int = typer.Option(5000),
        workers: int = typer.Option(1, help="uvicorn worker processes (each loads every model)"),
        timeout: int = typer.Option(60, help="seconds before a request gets a 504"),
        allow_unreviewed: bool = typer.Option(
            False,
            "--allow-unreviewed",
            help="serve even what the review gate refuses (local experiments only; every answer is marked)",
        ),
        plain_mlflow: bool = typer.Option(
            False,
            "--plain-mlflow",
            help="plain `mlflow models serve` without the front (no "
            "request checks, metrics, request log or /openapi.json)",
        ),
    ) -> None:
        """Serve a model (by default the production router): MLflow's scoring app behind the idaas
        front (request checks, /metrics, /health, /ready, request log, /openapi.json, /docs)."""
        from registry.servable import check_servable
        from serving.server import mlflow_serve_command, serve_command, serve_env

        # The gate where models are used: refused unless every model served passes it; the
        # server gets the version that was checked, not an alias that could move meanwhile.
        model_uri, problems = check_servable(model_uri, allow_unreviewed=allow_unreviewed)
        if allow_unreviewed:
            os.environ["IDAAS_ALLOW_UNREVIEWED"] = "1"  # the server stamps every answer's models
            banner = "!" * 78
            typer.echo(
                f"{banner}\nSERVING WITHOUT THE REVIEW GATE (--allow-unreviewed): for local experiments only.", err=True
            )
            for problem in problems:
                typer.echo(f"  - {problem}", err=True)
            typer.echo(f"Every answer's models are marked [UNREVIEWED].\n{banner}", err=True)
        command = (mlflow_serve_command if plain_mlflow else serve_command)(
            model_uri, host=host, port=port, workers=workers, timeout=timeout
        )
        shown = "127.0.0.1" if host == "0.0.0.0" else host
        typer.echo(f"serving {model_uri} on http://{host}:{port}  (Ctrl-C stops it)")
        if not plain_mlflow:
            typer.echo(f"contract: http://{shown}:{port}/docs   metrics: http://{shown}:{port}/metrics")
        body = (
            '"{\\"dataframe_records\\": [{\\"id\\": \\"bus\\", \\"image\\": \\"$(base64 -w0 photo.jpg)\\"}], '
            '\\"params\\": {\\"tasks\\": \\"classify,faces\\"}}"'
        )
        typer.echo(f"try:\n  curl -s http://{shown}:{port}/invocations -H 'Content-Type: application/json' -d {body}")
        sys.stdout.flush()
        os.execvpe(command[0], command, serve_env(timeout))

    @app.command()
    def demo(out: Path | None = typer.Option(None, help="where annotated PNGs go (default: <data dir>/demo)")) -> None:
        """End to end: register, review, promote, build the router, serve it, annotate 4 photos, stop."""
        from serving.demo import run_demo

        failures = run_demo(typer.echo, out)
        if failures:
            raise typer.Exit(1)
