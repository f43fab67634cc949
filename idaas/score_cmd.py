"""`idaas score INPUT -o OUT.parquet`: answer every image of a folder, glob or manifest into Parquet."""

from __future__ import annotations

from pathlib import Path

import typer

from vision.errors import BadRequestError

_EPILOG = (
    "INPUT is a folder (searched recursively for image files), a glob pattern (quote it: "
    "'photos/**/*.jpg'), or a manifest: a .csv or .parquet table with a path or URI column and optionally "
    "an id column; its other columns are carried through to the output.\n\n"
    "The output has one row per input: id, path, width, height, error_code, error_message, one column per "
    "task holding that task's answer as JSON text (what the REST endpoint returns under the task's key), "
    "models (JSON: task -> name/version), then the carried-through columns.\n\n"
    "Rows are saved in chunks as they are done: after Ctrl-C or a crash, run the same command again and it "
    "carries on where it stopped. OUTPUT appears only once every input has its row."
)


def _params(values: list[str]) -> dict[str, str]:
    params = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise BadRequestError(f"--param takes NAME=VALUE (e.g. top_k=3), got {value!r}")
        params[name.strip()] = text.strip()
    return params


def register(app: typer.Typer) -> None:
    @app.command(epilog=_EPILOG)
    def score(
        input: str = typer.Argument(..., help="folder, glob pattern, or manifest (.csv/.parquet)"),
        output: Path = typer.Option(..., "--output", "-o", help="Parquet file to write", dir_okay=False),
        model: str = typer.Option(
            "models:/idaas@production", help="any model URI: the router, or one model version (models:/faces-mtcnn/3)"
        ),
        tasks: str | None = typer.Option(None, help="comma-separated tasks (default: every task of the model)"),
        param: list[str] = typer.Option(
            [], "--param", "-p", help="task parameter NAME=VALUE (repeatable), e.g. -p top_k=3 -p min_score=0.5"
        ),
        path_column: str | None = typer.Option(
            None, help="manifest column with paths or URIs (default: path, uri, url, file ...)"
        ),
        id_column: str | None = typer.Option(None, help="manifest column with ids (default: id, if present)"),
        batch_size: int = typer.Option(32, min=1, help="images per model call"),
        chunk_size: int = typer.Option(512, min=1, help="images per saved chunk (what a crash can cost)"),
        workers: int | None = typer.Option(None, min=1, help="decoding threads (default: CPU count, max 8)"),
        restart: bool = typer.Option(
            False, "--restart", help="discard an unfinished run into OUTPUT instead of resuming it"
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace OUTPUT if it exists"),
        progress: bool = typer.Option(True, help="show a progress bar"),
    ) -> None:
        """Score many images into Parquet (resumable)."""
        from serving.batch.parquet_sink import RunStore
        from serving.batch.scorer import score as run_score
        from serving.batch.sources import discover

        inputs = discover(input, path_column=path_column, id_column=id_column)
        store = RunStore(output)
        pending = store.pending_state() if not restart else None
        if pending:
            typer.echo(f"resuming the unfinished run in {store.parts} (model {pending.get('model_version')})", err=True)
        try:
            summary = run_score(
                inputs,
                output,
                model=model,
                tasks=tasks,
                params=_params(param),
                batch_size=batch_size,
                chunk_size=chunk_size,
                workers=workers,
                restart=restart,
                overwrite=overwrite,
                progress=progress,
            )
        except KeyboardInterrupt:
            saved = len(store.done_keys()) if store.parts.exists() else 0
            typer.echo(
                f"\ninterrupted: {saved} of {len(inputs.items)} rows are saved in {store.parts}; "
                "run the same command again to finish",
                err=True,
            )
            raise typer.Exit(130) from None
        for line in summary.lines():
            typer.echo(line)
