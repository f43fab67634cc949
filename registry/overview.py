"""What `idaas models list` and `idaas models show` print: plain data, rendered by the CLI."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from registry import store
from registry.compare import COMPARISON_PREFIX, Comparison
from registry.history import STAGES, moves
from registry.lookup import aliases, get_model, get_version, versions_of
from registry.reviews import TAG_DECISION, revisions_from_tags, thresholds_for
from registry.versions import TAG_CONTENT_HASH, TAG_MODELS, TAG_REGISTERED_BY, TAG_SIZE, TAG_TASKS


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def _version_row(mv, holders: dict[str, str]) -> dict[str, Any]:
    tags = mv.tags or {}
    size = tags.get(TAG_SIZE)
    return {
        "version": str(mv.version),
        "created": _when(mv.creation_timestamp),
        "aliases": [a for a, v in holders.items() if v == str(mv.version)],
        "decision": tags.get(TAG_DECISION),
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
        by_version = {str(mv.version): mv for mv in found}
        rows.append({
            "name": model.name,
            "task": (model.tags or {}).get("idaas.task", ""),
            "versions": len(found),
            "latest": str(found[-1].version) if found else None,
            "aliases": {stage: holders.get(stage) for stage in STAGES if stage in holders},
            "decisions": {stage: (by_version[v].tags or {}).get(TAG_DECISION)
                          for stage, v in holders.items() if v in by_version},
        })
    return rows


def show_model(name: str) -> dict[str, Any]:
    client = store.client()
    model = get_model(client, name)
    holders = aliases(model)
    return {
        "name": model.name,
        "description": model.description or "",
        "task": (model.tags or {}).get("idaas.task", ""),
        "thresholds": thresholds_for(name),
        "aliases": holders,
        "versions": [_version_row(mv, holders) for mv in versions_of(client, name)],
    }


def show_version(name: str, version: str | int) -> dict[str, Any]:
    client = store.client()
    mv = get_version(client, name, version)
    holders = aliases(get_model(client, name))
    tags = mv.tags or {}
    revs = revisions_from_tags(tags)
    comparisons = []
    for key, raw in sorted(tags.items()):
        if key.startswith(COMPARISON_PREFIX):
            try:
                comparisons.append(Comparison.model_validate_json(raw).model_dump(mode="json"))
            except ValueError:
                continue
    row = _version_row(mv, holders)
    row.update({
        "name": name,
        "tasks": tags.get(TAG_TASKS, ""),
        "source": mv.source,
        "description": mv.description or "",
        "review": revs[-1].model_dump(mode="json", exclude={"key"}) if revs else None,
        "review_revisions": len(revs),
        "comparisons": comparisons,
        "moves": [m.model_dump(mode="json", exclude={"key"}) for m in moves(name) if m.version == str(mv.version)],
    })
    return row
