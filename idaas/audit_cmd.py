"""`idaas audit`: one line per finding, exit code 1 when there is any (for cron and CI)."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def audit(
        names: list[str] | None = typer.Argument(None, help="models to audit (default: every registered model)"),
        as_json: bool = typer.Option(False, "--json", help="the findings as a JSON list"),
    ) -> None:
        """Check every model and version: aliases without recorded moves, moves that passed no gate,
        edited or deleted reviews and moves, decision tags that disagree, router members."""
        from registry.audit import audit as run

        findings, checked = run(names or None)
        if as_json:
            typer.echo(json.dumps({"models_checked": checked, "findings": [f.to_dict() for f in findings]}, indent=2))
        else:
            for finding in findings:
                typer.echo(finding.line())
            typer.echo(
                f"{len(findings)} finding{'s' if len(findings) != 1 else ''} in {checked} "
                f"model{'s' if checked != 1 else ''}",
                err=bool(findings),
            )
        if findings:
            raise typer.Exit(1)
