"""The catalog: the models idaas knows by name (registry/catalog.yaml, or IDAAS_CATALOG)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vision.errors import IdaasError, ModelSpecError
from vision.spec import ModelSpec

DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")


class CatalogEntry(ModelSpec):
    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, float] = Field(
        default_factory=dict, description="metric -> minimum required by the production gate"
    )

    def spec(self) -> ModelSpec:
        return ModelSpec.model_validate(self.model_dump(exclude={"thresholds"}))


class GateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_distinct_promoter: bool = Field(
        False, description="the user promoting to production must not be the review's only author"
    )


class Catalog(BaseModel):
    models: list[CatalogEntry]
    gate: GateSettings = Field(default_factory=GateSettings)

    def get(self, name: str) -> CatalogEntry:
        for entry in self.models:
            if entry.name == name:
                return entry
        raise IdaasError(f"unknown model {name!r}; the catalog has: {', '.join(e.name for e in self.models)}")

    def names(self) -> list[str]:
        return [e.name for e in self.models]


def catalog_path() -> Path:
    return Path(os.environ.get("IDAAS_CATALOG", DEFAULT_CATALOG))


def load_catalog(path: Path | None = None) -> Catalog:
    path = Path(path or catalog_path())
    try:
        return Catalog.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError:
        raise ModelSpecError(f"no catalog at {path}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ModelSpecError(f"invalid catalog {path}: {exc}") from None


def resolve_entry(entry: CatalogEntry) -> tuple[ModelSpec, Path | None]:
    """A catalog entry's spec and local weights.

    Besides every source vision.weights knows, an entry may name a registered version,
    ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (e.g. a classifier that the training
    pipeline registered as a candidate): its weights are downloaded from the registry, and
    the labels and options it was registered with fill in what the entry leaves out.
    """
    from vision.weights import resolve_weights

    spec = entry.spec()
    if not (entry.weights or "").startswith("models:/"):
        return spec, resolve_weights(entry.weights)
    from registry.bundle import SPEC_FILE, entry_weights, read_bundle
    from registry.versions import download_bundle
    from vision.settings import get_settings

    ref = (entry.weights or "")[len("models:/") :]
    name, sep, alias = ref.partition("@")
    if not sep:
        name, _, alias = ref.partition("/")
    if not name or not alias:
        raise ModelSpecError(
            f"{entry.name}: weights {entry.weights!r} must be models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    dest = get_settings().cache_dir / "registered" / name / alias
    if dest.exists():
        import shutil

        shutil.rmtree(dest)  # an alias moves: always take what it points at now
    bundle = download_bundle(name, alias, dest)
    (registered,) = read_bundle(bundle)
    source_spec = ModelSpec.load(bundle / registered.dir / SPEC_FILE)
    spec = spec.model_copy(
        update={"labels": spec.labels or source_spec.labels, "options": {**source_spec.options, **spec.options}}
    )
    return spec, entry_weights(bundle, registered)


def build_local_pipeline(catalog: Catalog | None = None, tasks: list[str] | None = None, device: str | None = None):
    """A Pipeline straight from the catalog (no registry): one model per task, offline ones only.

    Used by `idaas annotate` without --url and by tests that compare a registered version with
    the adapter called directly.
    """
    from vision.adapters import build_adapter
    from vision.errors import WeightsUnavailableError
    from vision.pipeline import Loaded, Pipeline

    catalog = catalog or load_catalog()
    models: dict[str, Loaded] = {}
    for entry in catalog.models:
        if entry.task in models or (tasks and entry.task not in tasks):
            continue
        if (entry.weights or "").startswith("models:/"):
            continue  # registered versions are served from the registry, not in-process from the catalog
        try:
            spec, weights = resolve_entry(entry)
        except WeightsUnavailableError:
            continue
        models[entry.task] = Loaded(build_adapter(spec, weights, device=device), ref=f"{entry.name}/local")
    return Pipeline(models)
