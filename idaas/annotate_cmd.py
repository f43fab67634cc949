"""`idaas annotate PHOTO...`: what is in these photos, in-process or from a running server."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vision.summary import summarise


def register(app: typer.Typer) -> None:
    @app.command()
    def annotate(
        photos: list[Path] = typer.Argument(..., help="image files", exists=True, dir_okay=False),
        url: str | None = typer.Option(
            None,
            help="a running idaas server (e.g. http://127.0.0.1:5000); "
            "without it the catalog's offline models run in-process",
        ),
        tasks: str | None = typer.Option(None, help="comma-separated tasks (default: all the endpoint has)"),
        draw: Path | None = typer.Option(None, help="write annotated PNGs into this folder"),
        as_json: bool = typer.Option(False, "--json", help="print the wire JSON instead of a summary"),
    ) -> None:
        """Say what is in each photo."""
        ids = [p.name for p in photos]
        if url:
            from serving.client import IdaasClient

            answers = IdaasClient(url).annotate([p.read_bytes() for p in photos], ids=ids, tasks=tasks)
        else:
            from registry.catalog import build_local_pipeline

            answers = build_local_pipeline().annotate([p.read_bytes() for p in photos], ids=ids, tasks=tasks)
        for photo, answer in zip(photos, answers):
            if as_json:
                typer.echo(json.dumps(answer.to_wire()))
            else:
                typer.echo(summarise(answer))
            if draw and answer.error is None:
                from vision.draw import save_drawing
                from vision.image_input import decode_image

                out = save_drawing(decode_image(photo.read_bytes()).image, answer, draw / f"{photo.stem}.annotated.png")
                if not as_json:
                    typer.echo(f"  drawn:      {out}")
