"""`idaas audit`: everything in the registry that the gate and the records say should not be.

For every registered model: records edited, deleted or reordered (registry/records.py, with
the runs' stored records listed); production and staging aliases that no intact recorded move
put there, or that were removed outside idaas; production moves that passed no gate (no
intact, approving review record named by the move); the production holder no longer servable
(its or a member's review revised, broken, or a router built unreviewed); decision tags (the
UI mirror) that disagree with the review records; bundles that carry other model versions
than their tags say. Read-only: an audit changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from registry import records, store
from registry.lookup import aliases, all_models, get_model, versions_of

AUDITED_STAGES = ("staging", "production")
ROUTER_TAG_PREFIX = "idaas.router."


@dataclass(frozen=True)
class Finding:
    code: str  # stable: record_*, alias_unrecorded, alias_removed, move_without_gate, not_servable,
    #            decision_mismatch, members_mismatch, bundle_unreadable
    model: str
    version: str | None
    message: str

    def line(self) -> str:
        where = f"{self.model}/{self.version}" if self.version else self.model
        return f"{where}: [{self.code}] {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


def audit_model(name: str, client=None) -> list[Finding]:
    from registry.gate import review_passes
    from registry.history import moves_of
    from registry.members import bundle_entries
    from registry.overview import _decision
    from registry.reviews import TAG_DECISION
    from registry.servable import servable_problems
    from registry.versions import TAG_MODELS
    from vision.errors import IdaasError

    client = client or store.client()
    chain = records.verify(name, client=client, stored=True)
    found = [Finding(p.code, name, p.version, p.message) for p in chain.problems]
    holders = aliases(get_model(client, name))
    for stage in AUDITED_STAGES:
        stage_moves = moves_of(chain, stage)
        recorded = stage_moves[-1].version if stage_moves else None
        if holders.get(stage) != recorded:
            if holders.get(stage):
                found.append(
                    Finding(
                        "alias_unrecorded",
                        name,
                        holders[stage],
                        f"@{stage} points at version {holders[stage]} but no intact recorded move put it "
                        f"there (recorded: {recorded or 'none'}); it was set outside idaas",
                    )
                )
            else:
                found.append(
                    Finding(
                        "alias_removed",
                        name,
                        recorded,
                        f"@{stage} was removed outside idaas (the recorded moves give it to {recorded})",
                    )
                )
    for move in moves_of(chain, "production"):
        if move.kind != "promote" or move.forced:
            continue  # forced moves are recorded overrides; their holder is checked below like any other
        why = review_passes(name, move.version, move.review, move.thresholds, chain)
        if why:
            found.append(
                Finding(
                    "move_without_gate",
                    name,
                    move.version,
                    f"the production move of {move.when} by {move.who} passed no gate: {why}",
                )
            )
    if holders.get("production"):
        try:
            problems = servable_problems(name, holders["production"])
        except IdaasError as exc:
            problems = [exc.message]
        found += [
            Finding("not_servable", name, holders["production"], f"the production version: {p}") for p in problems
        ]
    for mv in versions_of(client, name):
        version, tags = str(mv.version), mv.tags or {}
        decision = _decision(chain, version)
        if decision != "BROKEN" and tags.get(TAG_DECISION) != decision:
            found.append(
                Finding(
                    "decision_mismatch",
                    name,
                    version,
                    f"the decision tag says {tags.get(TAG_DECISION)!r} but the review records say {decision!r}",
                )
            )
        found += _members(name, version, tags, bundle_entries, TAG_MODELS)
    return found


def _members(name: str, version: str, tags: dict, bundle_entries, models_tag: str) -> list[Finding]:
    """What the version's tags claim it carries, against what its bundle really carries."""
    from vision.errors import IdaasError

    try:
        entries = bundle_entries(name, version)
    except IdaasError as exc:
        return [Finding("bundle_unreadable", name, version, exc.message)]
    carried = {task: f"{n}/{v}" for task, n, v in entries}
    claims: dict[str, list[str]] = {}
    if models_tag in tags:
        claims[models_tag] = sorted(x for x in tags[models_tag].split(",") if x)
    raw = tags.get(ROUTER_TAG_PREFIX + "models")
    if raw is not None:
        try:
            claims[ROUTER_TAG_PREFIX + "models"] = sorted(f"{t}={m}" for t, m in json.loads(raw).items())
        except (ValueError, AttributeError):
            claims[ROUTER_TAG_PREFIX + "models"] = ["(unreadable)"]
    per_task = sorted(
        f"{k[len(ROUTER_TAG_PREFIX) :]}={v}"
        for k, v in tags.items()
        if k.startswith(ROUTER_TAG_PREFIX) and k[len(ROUTER_TAG_PREFIX) :] not in ("models", "unreviewed")
    )
    if per_task:
        claims[ROUTER_TAG_PREFIX + "<task>"] = per_task
    out = []
    for tag, said in claims.items():
        truth = sorted(carried.values()) if tag == models_tag else sorted(f"{t}={m}" for t, m in carried.items())
        if said != truth:
            out.append(
                Finding(
                    "members_mismatch",
                    name,
                    version,
                    f"tag {tag} says it carries {', '.join(said) or 'nothing'} "
                    f"but its bundle carries {', '.join(truth)}",
                )
            )
    return out


def audit(names: list[str] | None = None) -> tuple[list[Finding], int]:
    """(findings, number of models checked) for the whole registry or some models."""
    client = store.client()
    names = names or sorted(all_models(client))
    found: list[Finding] = []
    for name in names:
        found += audit_model(name, client)
    return found, len(names)
