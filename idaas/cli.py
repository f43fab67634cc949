"""`idaas`: the command line. Each group lives in its own module; this file wires them up and
turns every expected failure into one plain line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import sys

import typer

from idaas.help_format import context_settings, plain_help
from vision.settings import apply_offline_env

app = typer.Typer(
    help="Image Detection as a Service: models, reviews, serving and batch scoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=context_settings(),
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"idaas {version('idaas')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="print the version and exit"
    ),
) -> None:
    """Image Detection as a Service: models, reviews, serving and batch scoring."""


def _register_commands() -> None:
    # Imported here so `idaas --help` stays fast and a broken optional group names itself.
    from idaas import annotate_cmd

    annotate_cmd.register(app)
    from idaas import score_cmd

    score_cmd.register(app)
    from idaas import models_cmd, reviews_cmd

    models_cmd.register(app)
    reviews_cmd.register(app)
    from idaas import serving_cmd

    serving_cmd.register(app)
    from idaas import audit_cmd

    audit_cmd.register(app)
    from idaas import analyse_cmd, faces_cmd

    analyse_cmd.register(app)
    faces_cmd.register(app)
    from idaas import ui_cmd

    ui_cmd.register(app)


def main() -> None:
    apply_offline_env()
    _register_commands()
    from registry.store import redact  # every error line passes through it: no credentials printed
    from vision.errors import IdaasError

    try:
        command = typer.main.get_command(app)
        plain_help(command)
        command(prog_name="idaas")  # click's standalone mode prints usage errors itself and exits 2
    except IdaasError as exc:
        typer.echo(redact(f"error [{exc.code.value}]: {exc.message}"), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback to a user
        from mlflow.exceptions import MlflowException

        if isinstance(exc, MlflowException):
            typer.echo(redact(f"error [mlflow]: {exc.message}"), err=True)
        else:
            typer.echo(redact(f"error [{type(exc).__name__}]: {exc}"), err=True)
        if os.environ.get("IDAAS_DEBUG"):
            raise
        sys.exit(1)
