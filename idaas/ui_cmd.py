"""`idaas ui`: MLflow's web UI on the project's registry, sized for a laptop."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from vision.errors import IdaasError


def ui_command(host: str, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    """The `mlflow server` command line and environment that show this project's registry."""
    from registry import store

    settings_uri = store.configure()  # creates the registry and the "idaas" experiment if new
    if store.is_remote(settings_uri):
        raise IdaasError(
            f"the registry is a tracking server ({store.redact(settings_uri)}); open its own UI "
            "in a browser instead of starting another"
        )
    from vision.settings import apply_offline_env

    artifacts = apply_offline_env().artifacts_dir
    artifacts.mkdir(parents=True, exist_ok=True)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow_cli) if mlflow_cli.exists() else "mlflow",
        "server",
        "--backend-store-uri",
        settings_uri,
        # artifacts are local files the registry already points at (file:// URIs): the
        # server reads them in place, and a run created from the UI lands beside them
        "--default-artifact-root",
        artifacts.resolve().as_uri(),
        "--no-serve-artifacts",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = {
        **os.environ,
        # MLflow's job runner (huey consumers) serves GenAI features idaas does not use; on a
        # 2-core laptop its processes cost more than the UI itself.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    return command, env


def register(app: typer.Typer) -> None:
    @app.command()
    def ui(
        host: str = typer.Option("127.0.0.1", help="interface to listen on (127.0.0.1: this machine only)"),
        port: int = typer.Option(5000, min=1, max=65535, help="port to listen on"),
        workers: int = typer.Option(1, min=1, help="web worker processes"),
    ) -> None:
        """MLflow's UI on this project's registry: models, versions, reviews, stage history, training runs."""
        command, env = ui_command(host, port, workers)
        from registry.store import redact

        typer.echo(redact(f"MLflow UI on http://{host}:{port} (registry: {command[3]}); Ctrl-C stops it"), err=True)
        # exec, not a child: a signal to `idaas ui` reaches the server itself
        os.execve(command[0], command, env)
