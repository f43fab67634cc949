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
        return json.dumps({task: f"{name}/{version}" for task, (name, version) in self.members.items()},
                          sort_keys=True)


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
    wanted = plan.tag()
    for version in sorted(versions, key=lambda v: -int(v.version)):
        if version.tags.get(MODELS_TAG) == wanted:
            return version
    return None


def build_router(name: str = ROUTER_NAME, *, alias: str = "production", catalog: Catalog | None = None,
                 reuse: bool = True):
    """Register a router version from the current ``alias`` holders; returns (version, plan, reused)."""
    from registry.versions import download_bundle, log_bundle

    plan = plan_router(alias, catalog)
    if reuse:
        existing = find_existing(plan, name)
        if existing is not None:
            return existing, plan, True
    with tempfile.TemporaryDirectory(prefix="idaas-router-") as tmp:
        sources = [download_bundle(member, version, Path(tmp) / "src" / member)
                   for member, version in plan.members.values()]
        bundle = Path(tmp) / "bundle"
        merge_bundles(bundle, sources)
        listing = ", ".join(f"{task}={n}/{v}" for task, (n, v) in plan.members.items())
        tags = {MODELS_TAG: plan.tag(), "idaas.kind": "router"}
        tags.update({f"idaas.router.{task}": f"{n}/{v}" for task, (n, v) in plan.members.items()})
        registered = log_bundle(name, bundle, description=f"Router over the @{alias} versions: {listing}.",
                                tags=tags, run_params={"alias": alias, "members": listing})
    return registered, plan, False


def export_router(version: str, out: Path, name: str = ROUTER_NAME) -> Path:
    """Write a router version's self-contained model folder (what the Dockerfile copies)."""
    configure()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise IdaasError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(out)))
