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

    thresholds: dict[str, float] = Field(default_factory=dict,
                                         description="metric -> minimum required by the production gate")

    def spec(self) -> ModelSpec:
        return ModelSpec.model_validate(self.model_dump(exclude={"thresholds"}))


class Catalog(BaseModel):
    models: list[CatalogEntry]

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


def build_local_pipeline(catalog: Catalog | None = None, tasks: list[str] | None = None, device: str | None = None):
    """A Pipeline straight from the catalog (no registry): one model per task, offline ones only.

    Used by `idaas annotate` without --url and by tests that compare a registered version with
    the adapter called directly.
    """
    from vision.adapters import build_adapter
    from vision.errors import WeightsUnavailableError
    from vision.pipeline import Loaded, Pipeline
    from vision.weights import resolve_weights

    catalog = catalog or load_catalog()
    models: dict[str, Loaded] = {}
    for entry in catalog.models:
        if entry.task in models or (tasks and entry.task not in tasks):
            continue
        try:
            weights = resolve_weights(entry.weights)
        except WeightsUnavailableError:
            continue
        models[entry.task] = Loaded(build_adapter(entry.spec(), weights, device=device), ref=f"{entry.name}/local")
    return Pipeline(models)
