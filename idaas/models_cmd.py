"""`idaas models ...`: register, list, compare and promote model versions in the registry.

Works the same on the embedded registry and on a team's `mlflow server` (MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from vision.errors import IdaasError


class OneLineErrorsGroup(TyperGroup):
    """Usage errors (a missing VERSION, an unknown option) end as one plain line, like every
    other idaas error, instead of click's usage block."""

    def invoke(self, ctx) -> Any:
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            raise IdaasError(f"{exc.format_message()} (see `{where} --help`)") from None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _mb(size: int | None) -> str:
    return "" if size is None else f"{size / 1e6:.1f} MB"


def _seconds(when: str) -> str:
    """An ISO time as `show` prints it: to the second, no zone suffix (all times are UTC)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(when).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return when


def _router_members(name: str, versions: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    """version -> (task, model, version) of each member, for the versions of a router."""
    from registry.members import bundle_entries
    from registry.store import client

    out: dict[str, list[tuple[str, str, str]]] = {}
    mlflow_client = client()
    for version in dict.fromkeys(versions):
        if (mlflow_client.get_model_version(name, version).tags or {}).get("idaas.kind") == "router":
            out[version] = sorted(bundle_entries(name, version))
    return out


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def register(app: typer.Typer) -> None:
    models = typer.Typer(
        cls=OneLineErrorsGroup, no_args_is_help=True, help="Register, list, compare and promote model versions."
    )
    app.add_typer(models, name="models")

    @models.command()
    def bootstrap(only: list[str] | None = typer.Option(None, "--only", help="catalog names (default: all)")) -> None:
        """Register the catalog's models whose weights are on this machine; say how to provide the rest."""
        from registry.bootstrap import bootstrap as run

        report = run(names=only)
        for line in report.lines():
            typer.echo(line)
        if report.skipped:
            typer.echo(
                f"{len(report.skipped)} skipped: provide the weights as described, then run "
                "`idaas models register NAME --weights PATH`"
            )

    @models.command("register")
    def register_cmd(
        name: str = typer.Argument(..., help="catalog name, or a new name with --task/--family or --spec"),
        weights: Path | None = typer.Option(None, help="a local checkpoint file or folder"),
        spec: Path | None = typer.Option(None, help="a model spec YAML (task, family, labels, options)"),
        task: str | None = typer.Option(None, help="task of a model that is not in the catalog"),
        family: str | None = typer.Option(None, help="adapter family of a model that is not in the catalog"),
        description: str | None = typer.Option(None),
    ) -> None:
        """Register one model version, from the catalog or from a local checkpoint."""
        from registry.catalog import load_catalog
        from registry.versions import register_spec
        from vision.spec import ModelSpec

        catalog = load_catalog()
        if spec is not None:
            model_spec = ModelSpec.load(spec).model_copy(update={"name": name})
        elif name in catalog.names():
            model_spec = catalog.get(name).spec()
        elif task and family:
            model_spec = _new_spec(name, task, family)
        else:
            raise IdaasError(
                f"{name!r} is not in the catalog ({', '.join(catalog.names())}); to register a local "
                "checkpoint give --weights PATH with --task and --family, or --spec FILE"
            )
        if weights is not None:
            if not weights.exists():
                raise IdaasError(f"no weights at {weights}")
            model_spec = model_spec.model_copy(update={"weights": str(weights.resolve())})
        if description is not None:
            model_spec = model_spec.model_copy(update={"description": description})
        logged = register_spec(model_spec, weights, skip_unchanged=True)
        if logged.created:
            typer.echo(
                f"registered {logged.name} version {logged.version} as candidate "
                f"({_mb(logged.bundle_bytes)}, {logged.seconds:.1f} s): {logged.model_uri}"
            )
        else:
            typer.echo(f"unchanged: {logged.name} version {logged.version} already has this spec and these weights")

    @models.command()
    def promote(
        name: str = typer.Argument(...),
        version: str = typer.Argument(...),
        to: str = typer.Option(..., "--to", help="candidate, staging or production"),
        reason: str = typer.Option("", help="why; recorded in the history"),
        force: bool = typer.Option(False, "--force", help="override the gate (needs --reason; recorded as forced)"),
    ) -> None:
        """Move a stage (alias) to a version, through the stage's gate."""
        from registry.stages import promote as run

        outcome = run(name, version, to, reason=reason, force=force)
        if outcome.move is None:
            typer.echo(f"{name} version {version} already holds {to}")
            return
        forced = " (FORCED past the gate)" if outcome.move.forced else ""
        typer.echo(f"{name}: {to} {outcome.move.previous or '-'} -> {outcome.move.version}{forced}")
        if outcome.superseded:
            typer.echo(f"note: a concurrent move recorded after this one gave {to} to version {outcome.holder}")

    @models.command()
    def rollback(
        name: str = typer.Argument(...),
        stage: str = typer.Option("production", help="the stage to roll back"),
        reason: str = typer.Option("", help="why; recorded in the history"),
    ) -> None:
        """Give production back to the version that held it before the current one."""
        from registry.stages import rollback as run

        outcome = run(name, stage=stage, reason=reason)
        typer.echo(f"{name}: {stage} {outcome.move.previous} -> {outcome.move.version} (rollback)")

    @models.command()
    def history(
        name: str = typer.Argument(...),
        stage: str | None = typer.Option(None, help="only this stage"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Every stage move of a model: when, which stage, from which version to which, who, why.

        Records that were edited, deleted or reordered are shown as BROKEN, and aliases that no
        recorded move put where they are as UNRECORDED."""
        from registry import records
        from registry.history import moves_of
        from registry.lookup import aliases, get_model
        from registry.overview import alias_warnings
        from registry.store import client

        chain = records.verify(name, stored=True)
        found = moves_of(chain, stage)
        warnings = alias_warnings(chain, aliases(get_model(client(), name)))
        if as_json:
            _echo_json([m.model_dump(mode="json", exclude={"key"}) for m in found])
            return
        if not found:
            typer.echo(f"{name} has no recorded moves")
        else:
            rows = [
                [
                    _seconds(m.when),
                    m.stage,
                    m.previous or "(none)",
                    m.version,
                    m.kind + (" FORCED" if m.forced else ""),
                    m.who,
                    m.why or "-",
                ]
                for m in found
            ]
            for line in _table(rows, ["WHEN (UTC)", "STAGE", "FROM", "TO", "KIND", "BY", "WHY"]):
                typer.echo(line)
        for version, members in _router_members(name, [m.version for m in found]).items():
            typer.echo(f"version {version} serves: " + ", ".join(f"{task}={n}/{v}" for task, n, v in members))
        for problem in chain.problems:
            typer.echo(f"BROKEN  {problem.message}")
        for alias, why in warnings.items():
            if stage is None or alias == stage:
                typer.echo(f"@{alias}: {why}")

    @models.command("list")
    def list_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
        """Every registered model: task, versions, which version holds each stage, review decisions."""
        from registry.overview import list_models

        rows = list_models()
        if as_json:
            _echo_json(rows)
            return
        if not rows:
            typer.echo("no registered models (run `idaas models bootstrap`)")
            return
        table = []
        for row in rows:
            stages = ", ".join(
                f"{stage}={version}"
                + (f" ({row['decisions'][stage]})" if row["decisions"].get(stage) else "")
                + (" UNRECORDED" if stage in row["warnings"] else "")
                for stage, version in row["aliases"].items()
            )
            if row["broken_records"]:
                stages += f"  [{row['broken_records']} broken record(s): idaas audit]"
            table.append([row["name"], row["task"], str(row["versions"]), stages or "-"])
        for line in _table(table, ["NAME", "TASK", "VERSIONS", "STAGES (review decision)"]):
            typer.echo(line)

    @models.command()
    def show(
        name: str = typer.Argument(...),
        version: str | None = typer.Argument(None, help="a version number (default: the model)"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """A model and its versions, or one version with its review, comparisons and moves."""
        from registry.overview import show_model, show_version

        if version is None:
            data = show_model(name)
            if as_json:
                _echo_json(data)
                return
            typer.echo(f"{data['name']}  task: {data['task']}")
            if data["description"]:
                typer.echo(f"  {data['description']}")
            if data["thresholds"]:
                typer.echo("  production gate: " + ", ".join(f"{k} >= {v:g}" for k, v in data["thresholds"].items()))
            rows = [
                [
                    v["version"],
                    v["created"],
                    ",".join(v["aliases"]) or "-",
                    v["decision"] or "-",
                    _mb(v["size_bytes"]),
                    v["registered_by"] or "",
                ]
                for v in data["versions"]
            ]
            for line in _table(rows, ["VERSION", "CREATED", "STAGES", "REVIEW", "SIZE", "BY"]):
                typer.echo("  " + line)
            for alias, why in data["warnings"].items():
                typer.echo(f"  @{alias}: {why}")
            for problem in data["problems"]:
                typer.echo(f"  BROKEN  {problem}")
            return
        data = show_version(name, version)
        if as_json:
            _echo_json(data)
            return
        typer.echo(
            f"{name} version {data['version']}  stages: {','.join(data['aliases']) or '-'}  "
            f"tasks: {data['tasks']}  size: {_mb(data['size_bytes'])}"
        )
        typer.echo(f"  models: {data['models']}  created {data['created']} by {data['registered_by']}")
        run = data.get("run")
        if run:
            typer.echo(
                f"  training run: {run['name'] or run['id']} ({run['id']}, {run['status'].lower()}, "
                f"experiment {run['experiment']}; `mlflow runs describe --run-id {run['id']}`)"
            )
        else:
            typer.echo("  training run: none (registered from files, not from a run)")
        review = data["review"]
        if review:
            r = review["review"]
            typer.echo(
                f"  review (revision {review['revision']} of {data['review_revisions']}): {r['decision']} "
                f"by {r['reviewer']} on {r['date']}; metrics: "
                + (", ".join(f"{k}={v:g}" for k, v in r["metrics"].items()) or "none")
            )
        else:
            typer.echo("  review: none")
        for why in data["review_broken"]:
            typer.echo(f"  review BROKEN: {why}")
        for comp in data["comparisons"]:
            agreement = ", ".join(f"{t['task']} {t['agreement']:.0%}" for t in comp["tasks"])
            typer.echo(
                f"  compared with v{comp['champion']} on {comp['n_images']} images: {agreement}; "
                f"{comp['differing_count']} differing"
            )
        for move in data["moves"]:
            typer.echo(
                f"  {_seconds(move['when'])}  {move['stage']} {move['previous'] or '(none)'} -> "
                f"{move['version']} ({move['kind']}) by {move['who']}"
                + (" FORCED" if move["forced"] else "")
                + (f": {move['why']}" if move["why"] else "")
            )

    @models.command()
    def compare(
        name: str = typer.Argument(...),
        champion: str = typer.Argument(..., help="the version to compare against (usually production)"),
        challenger: str = typer.Argument(..., help="the new version; the comparison is recorded on it"),
        images: Path = typer.Option(..., "--images", help="a folder of images: the fixed sample"),
        limit: int | None = typer.Option(None, help="use only the first N images (sorted by name)"),
        record: bool = typer.Option(True, "--record/--no-record", help="record the result on the challenger"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Champion/challenger: run both versions on the same images; agreement, score shifts, differences."""
        from registry.compare import compare_versions

        result = compare_versions(name, champion, challenger, images, limit=limit, record=record)
        if as_json:
            _echo_json(result.model_dump(mode="json"))
            return
        for line in result.lines():
            typer.echo(line)
        if record:
            typer.echo(f"recorded on {name} version {result.challenger}")

    @models.command()
    def derive(
        name: str = typer.Argument(..., help="the faces model to start from, e.g. faces-mtcnn"),
        attribute: list[str] = typer.Option(
            ..., "--attribute", help="NAME=MODEL_URI, e.g. sunglasses=models:/sunglasses-clf@candidate"
        ),
        base: str = typer.Option("production", help="version or alias of NAME to start from"),
        positive: str | None = typer.Option(
            None, help="the classifier's class that means yes (default: the attribute's name)"
        ),
        min_face_px: float = typer.Option(24.0, help="the learned model abstains on smaller faces"),
        min_confidence: float = typer.Option(0.1, help="... and on probabilities this close to 0.5"),
    ) -> None:
        """A new NAME version whose bundle carries a learned attribute model, with a draft review."""
        from registry.derive import derive_faces, parse_attributes

        ref = f"models:/{name}/{base}" if base.isdigit() else f"models:/{name}@{base}"
        derived = derive_faces(
            ref, parse_attributes(attribute), positive=positive, min_face_px=min_face_px, min_confidence=min_confidence
        )
        typer.echo(
            f"registered {derived.logged.model_uri} (@candidate) from {derived.base} with "
            + ", ".join(f"{a} <- {m}" for a, m in derived.attribute_models.items())
            + f"; draft review revision {derived.review_revision} (prototype): complete it with "
            f"`idaas reviews set {derived.logged.name} {derived.logged.version} --file review.yaml`"
        )


def _new_spec(name: str, task: str, family: str):
    from vision.spec import ModelSpec

    try:
        return ModelSpec(name=name, task=task, family=family)
    except ValueError as exc:
        raise IdaasError(f"invalid model spec: {str(exc).splitlines()[-1].strip()}") from None
