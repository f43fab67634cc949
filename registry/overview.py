"""What `idaas models list` and `idaas models show` print: plain data, rendered by the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registry import records, store
from registry.compare import COMPARISON_PREFIX, Comparison
from registry.history import STAGES, moves_of
from registry.lookup import aliases, get_model, get_version, versions_of
from registry.reviews import review_problems, revisions_of, thresholds_for
from registry.versions import TAG_CONTENT_HASH, TAG_MODELS, TAG_REGISTERED_BY, TAG_SIZE, TAG_TASKS


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _decision(chain: records.Chain, version: str) -> str | None:
    """The latest intact review's decision, read from the records (never from the mirror tag);
    "BROKEN" when a revision of the review was edited, deleted or reordered."""
    if review_problems(chain, version):
        return "BROKEN"
    found = revisions_of(chain, version)
    return found[-1].review.decision if found else None


def alias_warnings(chain: records.Chain, holders: dict[str, str]) -> dict[str, str]:
    """stage -> what is wrong, for aliases that no intact recorded move put where they are."""
    out = {}
    for stage in STAGES:
        found = moves_of(chain, stage)
        recorded = found[-1].version if found else None
        if holders.get(stage) != recorded:
            out[stage] = (
                f"UNRECORDED: set outside idaas (recorded: {recorded or 'none'})"
                if holders.get(stage)
                else f"REMOVED outside idaas (recorded: {recorded})"
            )
    return out


def _version_row(mv, holders: dict[str, str], chain: records.Chain) -> dict[str, Any]:
    tags = mv.tags or {}
    size = tags.get(TAG_SIZE)
    return {
        "version": str(mv.version),
        "created": _when(mv.creation_timestamp),
        "aliases": [a for a, v in holders.items() if v == str(mv.version)],
        "decision": _decision(chain, str(mv.version)),
        "size_bytes": int(size) if size and size.isdigit() else None,
        "registered_by": tags.get(TAG_REGISTERED_BY),
        "content_hash": tags.get(TAG_CONTENT_HASH),
        "models": tags.get(TAG_MODELS),
        "run_id": mv.run_id,
    }


def list_models() -> list[dict[str, Any]]:
    """One row per registered model: task, versions, alias holders and their review decisions."""
    client = store.client()
    rows = []
    token = None
    models = []
    while True:
        page = client.search_registered_models(max_results=200, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            break
    for model in sorted(models, key=lambda m: m.name):
        holders = aliases(model)
        found = versions_of(client, model.name)
        chain = records.verify(model.name, client=client)
        rows.append(
            {
                "name": model.name,
                "task": (model.tags or {}).get("idaas.task", ""),
                "versions": len(found),
                "latest": str(found[-1].version) if found else None,
                "aliases": {stage: holders.get(stage) for stage in STAGES if stage in holders},
                "decisions": {stage: _decision(chain, v) for stage, v in holders.items()},
                "warnings": alias_warnings(chain, holders),
                "broken_records": len(chain.problems),
            }
        )
    return rows


def show_model(name: str) -> dict[str, Any]:
    client = store.client()
    model = get_model(client, name)
    holders = aliases(model)
    chain = records.verify(name, client=client)
    return {
        "name": model.name,
        "description": model.description or "",
        "task": (model.tags or {}).get("idaas.task", ""),
        "thresholds": thresholds_for(name),
        "aliases": holders,
        "versions": [_version_row(mv, holders, chain) for mv in versions_of(client, name)],
        "warnings": alias_warnings(chain, holders),
        "problems": [p.message for p in chain.problems],
    }


def _run(client, run_id: str | None) -> dict[str, Any] | None:
    """The run a version was logged from: what `show` names instead of an opaque source URI."""
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException

    try:
        info = client.get_run(run_id).info
    except MlflowException:
        return {"id": run_id, "name": "", "status": "DELETED", "experiment": "?"}
    return {"id": run_id, "name": info.run_name or "", "status": info.status, "experiment": info.experiment_id}


def show_version(name: str, version: str | int) -> dict[str, Any]:
    client = store.client()
    mv = get_version(client, name, version)
    holders = aliases(get_model(client, name))
    tags = mv.tags or {}
    chain = records.verify(name, client=client, stored=[mv.run_id] if mv.run_id else False)
    revs = revisions_of(chain, str(mv.version))
    comparisons = []
    for key, raw in sorted(tags.items()):
        if key.startswith(COMPARISON_PREFIX):
            try:
                comparisons.append(Comparison.model_validate_json(raw).model_dump(mode="json"))
            except ValueError:
                continue
    row = _version_row(mv, holders, chain)
    row.update(
        {
            "name": name,
            "tasks": tags.get(TAG_TASKS, ""),
            "source": mv.source,
            "run": _run(client, mv.run_id),
            "description": mv.description or "",
            "review": revs[-1].model_dump(mode="json", exclude={"key"}) if revs else None,
            "review_revisions": len(revs),
            "review_broken": review_problems(chain, str(mv.version)),
            "comparisons": comparisons,
            "moves": [
                m.model_dump(mode="json", exclude={"key"}) for m in moves_of(chain) if m.version == str(mv.version)
            ],
        }
    )
    return row
