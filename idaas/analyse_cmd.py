"""`idaas analyse per-user SCORES.parquet`: one verdict per user from per-photo answers."""

from __future__ import annotations

from pathlib import Path

import typer

from vision.errors import BadRequestError

_EPILOG = (
    "SCORES is an `idaas score` Parquet file scored with the faces task. The user of each photo is a column "
    "of SCORES (carried through from the scored manifest) or comes from --users, a .csv or .parquet manifest "
    "joined on --on (paths in it are read relative to the manifest's folder).\n\n"
    "A user whose photos show no face, or whose verdict the abstentions could change, is 'unknown', never 'no'."
)


def _read_table(path: Path):
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise BadRequestError(f"{path}: a user manifest is a .csv or .parquet file")


def register(app: typer.Typer) -> None:
    analyse = typer.Typer(help="Analyses over scored photos.", no_args_is_help=True)
    app.add_typer(analyse, name="analyse")

    @analyse.command("per-user", epilog=_EPILOG)
    def per_user_cmd(
        scores: Path = typer.Argument(..., exists=True, dir_okay=False, help="an `idaas score` Parquet file"),
        output: Path = typer.Option(..., "--output", "-o", dir_okay=False, help="Parquet file to write"),
        user_column: str = typer.Option("user_id", help="column naming each photo's user"),
        attribute: str = typer.Option("sunglasses", help="face attribute to decide on"),
        rule: str = typer.Option("all", help="all | any | share: which photos must show the attribute"),
        share: float = typer.Option(0.5, min=0.0, max=1.0, help="with --rule share: the share of photos"),
        threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="attribute score that counts as showing it"),
        users: Path | None = typer.Option(None, exists=True, dir_okay=False, help="user manifest (.csv/.parquet)"),
        on: str = typer.Option("path", help="column --users and SCORES share"),
    ) -> None:
        """One row per user: photos, photos with faces, yes / no / unknown photos, verdict."""
        from serving.analysis.per_user import RULES, per_user
        from serving.notebook_api import read_scores

        if rule not in RULES:
            raise BadRequestError(f"--rule must be one of {', '.join(RULES)}, got {rule!r}")
        scored = read_scores(scores)
        manifest = None
        if users is not None:
            manifest = _read_table(users)
            if on == "path" and "path" in manifest.columns:
                # `idaas score` writes absolute paths; a manifest's relative ones start at its folder.
                manifest["path"] = [str((users.parent / p).resolve()) for p in manifest["path"].astype(str)]
        try:
            table = per_user(
                scored,
                user_column=user_column,
                attribute=attribute,
                rule=rule,  # type: ignore[arg-type]
                threshold=threshold,
                share=share,
                users=manifest,
                on=on,
            )
        except ValueError as exc:
            raise BadRequestError(str(exc)) from exc
        output.parent.mkdir(parents=True, exist_ok=True)
        table.reset_index().to_parquet(output, index=False)
        counts = table["verdict"].value_counts()
        typer.echo(
            f"{len(table)} users -> {output}: "
            + ", ".join(f"{counts.get(v, 0)} {v}" for v in ("yes", "no", "unknown"))
            + f" (rule {rule}, {attribute})"
        )
