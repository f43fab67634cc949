"""The router: one registered pyfunc ("idaas") that answers every task, built from the
`production` version of each catalog model.

Building it copies those exact versions' bundles into the router's own artifacts, so a router
version is an immutable, self-contained bundle (it runs in a container with no registry
access). Its version tags list the sub-model versions it carries. It is promoted like any
other model.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from registry.bundle import merge_bundles
from registry.catalog import Catalog, load_catalog
from registry.store import client, configure
from vision.errors import IdaasError

ROUTER_NAME = "idaas"
MODELS_TAG = "idaas.router.models"


@dataclass
class RouterPlan:
    """Which version answers each task, and which catalog models were left out and why."""

    members: dict[str, tuple[str, str]] = field(default_factory=dict)  # task -> (name, version)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason

    def tag(self) -> str:
        return json.dumps({task: f"{name}/{version}" for task, (name, version) in self.members.items()}, sort_keys=True)


def plan_router(alias: str = "production", catalog: Catalog | None = None) -> RouterPlan:
    """The first catalog model per task whose ``alias`` is set (catalog order decides ties)."""
    configure()
    mlflow_client = client()
    plan = RouterPlan()
    for entry in (catalog or load_catalog()).models:
        if entry.task in plan.members:
            name, _ = plan.members[entry.task]
            plan.skipped[entry.name] = f"{entry.task} is already answered by {name}"
            continue
        try:
            version = mlflow_client.get_model_version_by_alias(entry.name, alias)
        except MlflowException:
            plan.skipped[entry.name] = f"no version holds @{alias}"
            continue
        plan.members[entry.task] = (entry.name, str(version.version))
    if not plan.members:
        raise IdaasError(f"no catalog model has a version @{alias}; promote some first (idaas models promote)")
    return plan


def find_existing(plan: RouterPlan, name: str = ROUTER_NAME):
    """The newest router version that already carries exactly these sub-model versions."""
    try:
        versions = client().search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    # The tags only shortlist; what the version's bundle really carries decides, and a router
    # built before its members were approved (or without the gate record) is never reused.
    from registry.members import bundle_entries, gate_record

    wanted = plan.tag()
    carried = sorted((task, n, v) for task, (n, v) in plan.members.items())
    for version in sorted(versions, key=lambda v: -int(v.version)):
        if version.tags.get(MODELS_TAG) != wanted:
            continue
        gate = gate_record(name, version.version)
        if sorted(bundle_entries(name, version.version)) == carried and gate and not gate.get("unreviewed"):
            return version
    return None


class RouterRefused(IdaasError):
    """A member of the router lacks what production requires; ``missing`` names each piece."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        numbered = "; ".join(f"({i}) {m}" for i, m in enumerate(missing, start=1))
        super().__init__(
            f"the router cannot be built: {numbered} "
            "(--allow-unreviewed builds it anyway for local experiments; it can never reach production)"
        )


def member_checks(plan: RouterPlan, alias: str) -> tuple[list[str], dict[str, dict]]:
    """(what is wrong with the members, the gate record to keep in the bundle).

    Each member needs an intact review that passes the production gate; taken from
    ``@production``, the alias must also be where the latest recorded move put it (an alias
    set with plain MLflow passed no gate).
    """
    from registry import records
    from registry.gate import approval
    from registry.history import recorded_holder

    missing: list[str] = []
    members: dict[str, dict] = {}
    for task, (name, version) in plan.members.items():
        chain = records.verify(name)
        if alias in ("production", "staging"):
            recorded = recorded_holder(name, alias, chain)
            if recorded != version:
                missing.append(
                    f"{name}: @{alias} points at version {version} but the recorded moves give it to "
                    f"{'version ' + recorded if recorded else 'no version'} "
                    "(the alias was set outside idaas)"
                )
        approved = approval(name, version, chain)
        missing += [f"{name}/{version}: {why}" for why in approved.missing]
        members[f"{name}/{version}"] = {"task": task, "review": approved.digest, "approved": not approved.missing}
    return missing, members


def build_router(
    name: str = ROUTER_NAME,
    *,
    alias: str = "production",
    catalog: Catalog | None = None,
    reuse: bool = True,
    allow_unreviewed: bool = False,
):
    """Register a router version from the current ``alias`` holders; returns (version, plan, reused).

    Refused when a member lacks an approved, intact review meeting its thresholds (each named),
    unless ``allow_unreviewed``: such a router is marked so, and its promotion to production
    and `idaas serve` refuse it. The bundle keeps the digest of each member's review record
    (gate.json), so the server can tell later whether those reviews still verify.
    """
    from registry.members import GATE_FILE
    from registry.store import current_user
    from registry.versions import download_bundle, log_bundle

    plan = plan_router(alias, catalog)
    missing, members = member_checks(plan, alias)
    if missing and not allow_unreviewed:
        raise RouterRefused(missing)
    if reuse and not missing:
        existing = find_existing(plan, name)
        if existing is not None:
            return existing, plan, True
    with tempfile.TemporaryDirectory(prefix="idaas-router-") as tmp:
        sources = [
            download_bundle(member, version, Path(tmp) / "src" / member) for member, version in plan.members.values()
        ]
        bundle = Path(tmp) / "bundle"
        merge_bundles(bundle, sources)
        gate = {
            "members": members,
            "alias": alias,
            "built_by": current_user(),
            "unreviewed": bool(missing),
            "missing": missing,
        }
        (bundle / GATE_FILE).write_text(json.dumps(gate, indent=2, sort_keys=True))
        listing = ", ".join(f"{task}={n}/{v}" for task, (n, v) in plan.members.items())
        tags = {MODELS_TAG: plan.tag(), "idaas.kind": "router"}
        if missing:
            tags["idaas.router.unreviewed"] = "true"
        tags.update({f"idaas.router.{task}": f"{n}/{v}" for task, (n, v) in plan.members.items()})
        registered = log_bundle(
            name,
            bundle,
            description=f"Router over the `@{alias}` versions: {listing}.",
            tags=tags,
            run_params={"alias": alias, "members": listing},
        )
    return registered, plan, False


def export_router(version: str, out: Path, name: str = ROUTER_NAME, *, allow_unreviewed: bool = False) -> Path:
    """Write a router version's self-contained model folder (what the Dockerfile copies).

    The container serves it with no registry access, so the serve gate runs here, at export:
    a version `idaas serve` would refuse is not exported (unless ``allow_unreviewed``).
    """
    from registry.servable import NotServable, servable_problems

    configure()
    problems = servable_problems(name, str(version))
    if problems and not allow_unreviewed:
        raise NotServable(f"models:/{name}/{version}", problems)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise IdaasError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(out)))
