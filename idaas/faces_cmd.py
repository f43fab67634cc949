"""`idaas faces crops INPUT -o DIR`: every detected face as a padded crop plus a manifest."""

from __future__ import annotations

from pathlib import Path

import typer

_EPILOG = (
    "INPUT is a folder, a glob pattern, a manifest (.csv/.parquet with a path column) or an `idaas score` "
    "Parquet file that has a faces column (its answers are reused, nothing is scored again).\n\n"
    "DIR gets unsorted/NNNNNN.png and manifest.csv (crop, source, face, x1, y1, x2, y2, score, each attribute "
    "and its abstention code). Move the crops into one folder per class to train an attribute model."
)


def register(app: typer.Typer) -> None:
    faces = typer.Typer(help="Face tools: crops for labelling.", no_args_is_help=True)
    app.add_typer(faces, name="faces")

    @faces.command("crops", epilog=_EPILOG)
    def crops(
        input: str = typer.Argument(..., help="folder, glob, manifest, or `idaas score` Parquet with faces"),
        output: Path = typer.Option(..., "--output", "-o", file_okay=False, help="folder to write"),
        model: str = typer.Option("models:/faces-mtcnn@production", help="faces model (or router) URI"),
        pad: float = typer.Option(0.25, min=0.0, max=2.0, help="margin around the box, share of its longer side"),
    ) -> None:
        """Export every detected face (padded crop) with a manifest, ready to sort into class folders."""
        import pandas as pd

        from serving import notebook_api
        from serving.face_crops import export_crops

        source = Path(input)
        scored = None
        if source.suffix.lower() == ".parquet" and source.is_file():
            columns = pd.read_parquet(source).columns
            if "faces" in columns:
                scored = notebook_api.read_scores(source)
        if scored is None:
            scored = notebook_api.score(input, model, tasks="faces")
        manifest = export_crops(scored, output, pad=pad)
        typer.echo(f"{len(manifest)} faces from {len(scored)} images -> {output}/unsorted, {output}/manifest.csv")
