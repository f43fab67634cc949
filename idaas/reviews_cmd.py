"""`idaas reviews ...`: impact reviews of model versions (set, show, list, template)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from idaas.models_cmd import OneLineErrorsGroup


def register(app: typer.Typer) -> None:
    reviews = typer.Typer(
        cls=OneLineErrorsGroup,
        no_args_is_help=True,
        help="Impact reviews: the record that decides whether a version goes to production.",
    )
    app.add_typer(reviews, name="reviews")

    @reviews.command("set")
    def set_cmd(
        name: str = typer.Argument(...),
        version: str = typer.Argument(...),
        file: Path = typer.Option(..., "--file", "-f", help="the review as YAML (start from `idaas reviews template`)"),
    ) -> None:
        """Attach a review (a new revision; earlier ones are kept) to a model version."""
        from registry.reviews import load_review_file, set_review

        # a person attaching a review signs it: a draft they started from stops being one
        review = load_review_file(file).model_copy(update={"draft": False})
        revision = set_review(name, version, review)
        typer.echo(
            f"{name} version {version}: review revision {revision.revision} recorded "
            f"(decision: {revision.review.decision})"
        )

    @reviews.command()
    def show(
        name: str = typer.Argument(...),
        version: str = typer.Argument(...),
        all_revisions: bool = typer.Option(False, "--revisions", help="every revision, oldest first"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """A version's review, as markdown (the same text the MLflow UI shows)."""
        from registry.reviews import render_markdown, revisions, thresholds_for

        found = revisions(name, version)
        if not found:
            from vision.errors import IdaasError

            raise IdaasError(
                f"{name} version {version} has no impact review; "
                "start from `idaas reviews template` and run "
                f"`idaas reviews set {name} {version} -f FILE`"
            )
        chosen = found if all_revisions else found[-1:]
        if as_json:
            typer.echo(json.dumps([r.model_dump(mode="json", exclude={"key"}) for r in chosen], indent=2))
            return
        thresholds = thresholds_for(name)
        typer.echo("\n\n".join(render_markdown(r, thresholds) for r in chosen))

    @reviews.command("list")
    def list_cmd(
        decision: str | None = typer.Option(None, help="prototype, invest, productionise or reject"),
        name: str | None = typer.Option(None, "--model", help="only this model"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Reviewed versions, optionally only those with one decision."""
        from registry.reviews import list_reviews

        found = list_reviews(decision=decision, name=name)
        if as_json:
            typer.echo(
                json.dumps(
                    [{"name": n, "version": v, **r.model_dump(mode="json", exclude={"key"})} for n, v, r in found],
                    indent=2,
                )
            )
            return
        if not found:
            typer.echo("no reviews" + (f" with decision {decision}" if decision else ""))
        for model, version, rev in found:
            r = rev.review
            typer.echo(
                f"{model} v{version}  {r.decision:<13} by {r.reviewer} on {r.date}  "
                f"(revision {rev.revision})  {r.question}"
            )

    @reviews.command()
    def template(
        out: Path | None = typer.Option(None, "--out", "-o", help="write to this file instead of stdout"),
    ) -> None:
        """A review to start from: every field, with comments."""
        from registry.reviews import template_text

        text = template_text()
        if out is None:
            typer.echo(text, nl=False)
            return
        out.write_text(text)
        typer.echo(f"wrote {out}")
