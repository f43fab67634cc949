"""`idaas models bootstrap`: register every catalog model whose weights this machine can reach.

Entries whose weights cannot be reached offline (hub checkpoints) are skipped with the way
to provide them; an entry whose spec and weights are unchanged since a registered version is
not registered again (the content hash is a version tag).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow.exceptions import MlflowException

from registry.catalog import Catalog, load_catalog, resolve_entry
from registry.versions import LoggedVersion, register_spec
from vision.errors import WeightsUnavailableError


@dataclass
class BootstrapReport:
    registered: list[LoggedVersion] = field(default_factory=list)
    unchanged: list[LoggedVersion] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why and how to provide it)

    def lines(self) -> list[str]:
        out = [
            f"registered {v.name} version {v.version} ({v.bundle_bytes / 1e6:.1f} MB, {v.seconds:.1f} s)"
            for v in self.registered
        ]
        out += [f"unchanged  {v.name} version {v.version}" for v in self.unchanged]
        out += [f"skipped    {name}: {why}" for name, why in self.skipped]
        return out


def bootstrap(catalog: Catalog | None = None, names: list[str] | None = None) -> BootstrapReport:
    catalog = catalog or load_catalog()
    entries = [catalog.get(n) for n in names] if names else catalog.models
    report = BootstrapReport()
    for entry in entries:
        try:
            spec, weights = resolve_entry(entry)
        except (WeightsUnavailableError, MlflowException) as exc:
            report.skipped.append((entry.name, getattr(exc, "message", str(exc))))
            continue
        logged = register_spec(spec, weights, skip_unchanged=True)
        (report.registered if logged.created else report.unchanged).append(logged)
    return report
