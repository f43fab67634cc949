"""Pinned pip requirements for a logged model, taken from requirements.lock.

MLflow's requirement inference is slow and has been seen to drop torch and pillow, so every
model is logged with an explicit list: what the shipped code (vision + registry) imports,
plus what each model family's adapter declares it imports (``Adapter.requirements``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from vision.adapters import adapter_class
from vision.errors import ModelSpecError

LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.lock"

# What loading any bundle imports: mlflow + cloudpickle for the pyfunc, the core's decoding
# and settings stack, and torch (every adapter runs under torch.inference_mode).
BASE = (
    "mlflow",
    "cloudpickle",
    "pandas",
    "numpy",
    "pillow",
    "pillow_heif",
    "pydantic",
    "pydantic-settings",
    "PyYAML",
    "torch",
)


def spec_families(spec) -> list[str]:
    """The families a spec's adapter builds: its own, plus a faces model's attribute classifier."""
    families = [spec.family]
    attributes = (spec.options or {}).get("attributes") or {}
    if attributes.get("method") == "model" and attributes.get("family"):
        families.append(attributes["family"])
    return families


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=4)
def _lock(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    if not path.exists():
        return pins
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[_normal(name)] = f"{name.strip()}=={version.strip()}"
    return pins


def _pin(package: str, lock_path: Path) -> str:
    pinned = _lock(lock_path).get(_normal(package))
    if pinned:
        return pinned
    try:  # an installed copy without the repository's lock file
        return f"{package}=={metadata.version(package)}"
    except metadata.PackageNotFoundError:
        raise ModelSpecError(f"{package} is neither in {lock_path.name} nor installed; cannot pin it") from None


def pip_requirements(families: Iterable[str], lock_path: Path | None = None) -> list[str]:
    """``name==version`` for the base stack plus every package the given families need."""
    lock_path = lock_path or LOCK_FILE
    packages: list[str] = list(BASE)
    for family in families:
        packages.extend(adapter_class(family).requirements)  # an unknown family is a ModelSpecError
    return [_pin(p, lock_path) for p in dict.fromkeys(packages)]
