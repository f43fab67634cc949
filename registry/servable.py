"""The gate where models are served: `idaas serve` asks this module before it starts a server.

A served version passes when every model it carries has an intact review that passes the
production gate, every review digest its build recorded (a router's gate.json) is still an
intact record of that member's review, a router was not built unreviewed, and, when it is
named by an alias, that alias is where the latest recorded move put it. The URI handed to the
server is pinned to the version that was checked, so an alias moved in between changes nothing.
"""

from __future__ import annotations

import re

from registry import records, store
from registry.lookup import get_model, get_version
from vision.errors import IdaasError

_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))/?$")


class NotServable(IdaasError):
    """What is served would put an unreviewed model in front of callers; ``problems`` lists why."""

    def __init__(self, uri: str, problems: list[str]):
        self.problems = problems
        numbered = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, start=1))
        super().__init__(
            f"refusing to serve {uri}: {numbered} (`idaas serve --allow-unreviewed` serves it anyway "
            "for a local experiment, and marks every answer)"
        )


def servable_problems(name: str, version: str, alias: str | None = None) -> list[str]:
    """Why ``name`` ``version`` must not be served (empty when it may)."""
    from registry.gate import approval
    from registry.history import recorded_holder
    from registry.members import bundle_entries, gate_record

    problems: list[str] = []
    chains: dict[str, records.Chain] = {}

    def chain(model: str) -> records.Chain:
        if model not in chains:
            chains[model] = records.verify(model)
        return chains[model]

    if alias is not None:
        recorded = recorded_holder(name, alias, chain(name))
        if recorded != version:
            problems.append(
                f"@{alias} of {name} points at version {version} but the recorded moves give it to "
                f"{'version ' + recorded if recorded else 'no version'} (the alias was set outside idaas)"
            )
    entries = bundle_entries(name, version)
    composite = any(n != name for _, n, _ in entries)
    gate = gate_record(name, version) if composite else None
    if composite:
        if gate is None or gate.get("unreadable"):
            problems.append(
                f"{name} version {version} carries no gate record of its members' reviews "
                "(built before reviews were recorded in the bundle); build it again"
            )
        elif gate.get("unreviewed"):
            problems.append(f"{name} version {version} was built with --allow-unreviewed")
    seen = set()
    for _, member, member_version in [*entries, ("", name, version)]:
        if (member, member_version) in seen:
            continue
        seen.add((member, member_version))
        approved = approval(member, member_version, chain(member))
        problems += [f"{member}/{member_version}: {why}" for why in approved.missing]
        if gate and not gate.get("unreadable") and member != name:
            kept = (gate.get("members") or {}).get(f"{member}/{member_version}", {}).get("review")
            record = chain(member).by_digest().get(kept or "")
            if kept and (record is None or record.type != "review" or record.version != str(member_version)):
                problems.append(
                    f"{member}/{member_version}: the review record the router was built on "
                    f"({kept[:12]}) no longer verifies"
                )
    return problems


def check_servable(uri: str, *, allow_unreviewed: bool = False) -> tuple[str, list[str]]:
    """(the URI to serve, pinned to a version; the problems found). Raises NotServable when
    there are problems and ``allow_unreviewed`` is off."""
    match = _REGISTERED.match(uri.strip())
    if match is None:
        problems = [
            f"{uri} is not a registered version (models:/NAME/VERSION or models:/NAME@ALIAS), "
            "so no review can vouch for it"
        ]
        if not allow_unreviewed:
            raise NotServable(uri, problems)
        return uri, problems
    client = store.client()
    name, alias = match["name"], match["alias"]
    if alias:
        holder = (get_model(client, name).aliases or {}).get(alias)
        if holder is None:
            raise IdaasError(f"{name} has no version @{alias}")
        version = str(holder)
    else:
        version = str(get_version(client, name, match["version"]).version)
    problems = servable_problems(name, version, alias)
    if problems and not allow_unreviewed:
        raise NotServable(uri, problems)
    return f"models:/{name}/{version}", problems
