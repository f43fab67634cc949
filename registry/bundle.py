"""The on-disk layout of every idaas pyfunc's artifacts, for one model or many:

    <bundle>/bundle.yaml          {models: [{task, name, version, dir, weights}]}
    <bundle>/<dir>/spec.yaml      vision.spec.ModelSpec
    <bundle>/<dir>/weights/       a copy of the weights (absent for model-free tasks)

A registered version is one bundle with one entry; the serving router is one bundle with an
entry per task, merged from production versions' bundles. The bundle is self-contained: it
never points at files of an installed package, and it carries each entry's registered version
so answers say "name/version" even where no registry can be reached.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from vision.adapters import adapter_class
from vision.errors import ModelSpecError
from vision.spec import ModelSpec

BUNDLE_FILE = "bundle.yaml"
SPEC_FILE = "spec.yaml"
WEIGHTS_DIR = "weights"

_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".gitkeep", ".git", ".cache", "*.lock")


class BundleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    name: str
    version: str
    dir: str
    #: path of the weights relative to ``dir`` ("weights" or "weights/<file>"); None = no weights
    weights: str | None = None


class BundleIndex(BaseModel):
    models: list[BundleEntry]


def write_bundle(bundle_dir: Path, entries: Iterable[BundleEntry]) -> Path:
    """Write bundle.yaml for entries whose folders are already in place."""
    bundle_dir = Path(bundle_dir)
    entries = list(entries)
    tasks = [e.task for e in entries]
    duplicated = sorted({t for t in tasks if tasks.count(t) > 1})
    if duplicated:
        raise ModelSpecError(f"a bundle answers each task once; {', '.join(duplicated)} appears more than once")
    for entry in entries:
        if not (bundle_dir / entry.dir / SPEC_FILE).exists():
            raise ModelSpecError(f"bundle entry {entry.name!r} has no {entry.dir}/{SPEC_FILE} in {bundle_dir}")
    path = bundle_dir / BUNDLE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(BundleIndex(models=entries).model_dump(mode="json"), sort_keys=False))
    tmp.replace(path)
    return path


def read_bundle(bundle_dir: Path) -> list[BundleEntry]:
    path = Path(bundle_dir) / BUNDLE_FILE
    try:
        return BundleIndex.model_validate(yaml.safe_load(path.read_text())).models
    except FileNotFoundError:
        raise ModelSpecError(f"{bundle_dir} is not an idaas bundle (no {BUNDLE_FILE})") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ModelSpecError(f"invalid {path}: {exc}") from None


def set_version(bundle_dir: Path, version: str | int) -> list[BundleEntry]:
    """Stamp every entry of a bundle with one registered version (a single-model bundle's own)."""
    entries = [e.model_copy(update={"version": str(version)}) for e in read_bundle(bundle_dir)]
    write_bundle(bundle_dir, entries)
    return entries


def copy_weights(source: Path, dest: Path, family: str | None = None) -> Path:
    """Copy a weight file or folder to ``dest`` (a folder); returns the path the adapter loads.

    A single file lands as ``dest/<file name>`` and that file is returned; a folder is copied
    with symlinks resolved (Hugging Face caches are symlinks into a blob store) and ``dest``
    is returned. Where the family's adapter names the files it reads (``weight_files``,
    ``weight_globs``), only those are copied: a version carries 2 MB of MTCNN, not a package.
    """
    source, dest = Path(source), Path(dest)
    if not source.exists():
        raise ModelSpecError(f"no weights at {source}")
    if source.is_dir() and dest.resolve().is_relative_to(source.resolve()):
        raise ModelSpecError(
            f"the weights folder {source} contains the bundle being written ({dest}); "
            "point --weights at the model's own folder"
        )
    dest.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        target = dest / source.name
        shutil.copy2(source, target)
        return target
    adapter = adapter_class(family) if family else None
    if adapter is not None and adapter.weight_files:
        found = [source / n for n in adapter.weight_files if (source / n).exists()]
        if not found:
            raise ModelSpecError(f"{source} holds none of {', '.join(adapter.weight_files)} ({family} weights)")
    elif adapter is not None and adapter.weight_globs:
        found = []
        for pattern in adapter.weight_globs:
            matches = sorted(source.glob(pattern))
            if not matches:
                raise ModelSpecError(f"{source} has no {pattern} file ({family} weights)")
            found.append(matches[0])
    else:
        found = list(source.iterdir())
    for item in found:
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=_SKIP, dirs_exist_ok=True)
        elif not _SKIP(str(item.parent), [item.name]):
            shutil.copy2(item, dest / item.name)
    return dest


def entry_dir_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def add_model(
    bundle_dir: Path, spec: ModelSpec, weights: Path | None, version: str | int = "0", dir_name: str | None = None
) -> BundleEntry:
    """Put one model (spec + a copy of its weights) into a bundle folder; returns its entry.

    bundle.yaml is not touched: call write_bundle with every entry once they are all in place.
    """
    bundle_dir = Path(bundle_dir)
    dir_name = dir_name or entry_dir_name(spec.name)
    entry_dir = bundle_dir / dir_name
    if entry_dir.exists():
        shutil.rmtree(entry_dir)
    entry_dir.mkdir(parents=True)
    spec.save(entry_dir / SPEC_FILE)
    weights_rel = None
    if weights is not None:
        loaded = copy_weights(Path(weights), entry_dir / WEIGHTS_DIR, family=spec.family)
        weights_rel = loaded.relative_to(entry_dir).as_posix()
    return BundleEntry(task=spec.task, name=spec.name, version=str(version), dir=dir_name, weights=weights_rel)


def merge_bundles(dest: Path, sources: Iterable[Path]) -> list[BundleEntry]:
    """Copy the entries of several bundles into one (the router's artifacts); versions are kept."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    entries: list[BundleEntry] = []
    used: set[str] = set()
    for source in sources:
        source = Path(source)
        for entry in read_bundle(source):
            dir_name, n = entry.dir, 2
            while dir_name in used:
                dir_name, n = f"{entry.dir}-{n}", n + 1
            used.add(dir_name)
            shutil.copytree(source / entry.dir, dest / dir_name, ignore=_SKIP, dirs_exist_ok=True)
            entries.append(entry.model_copy(update={"dir": dir_name}))
    write_bundle(dest, entries)
    return entries


def entry_weights(bundle_dir: Path, entry: BundleEntry) -> Path | None:
    if entry.weights is not None:
        path = Path(bundle_dir) / entry.dir / entry.weights
        if not path.exists():
            raise ModelSpecError(f"bundle entry {entry.name!r}: {entry.dir}/{entry.weights} is missing")
        return path
    return None


def content_hash(bundle_dir: Path) -> str:
    """A hash of what the bundle's models do: specs (without provenance text) and weight bytes.

    Versions are stamped in bundle.yaml and excluded, so the same weights and spec registered
    twice hash alike; that is how bootstrap recognises an unchanged model.
    """
    bundle_dir = Path(bundle_dir)
    digest = hashlib.sha256()
    for entry in sorted(read_bundle(bundle_dir), key=lambda e: e.task):
        spec = ModelSpec.load(bundle_dir / entry.dir / SPEC_FILE)
        digest.update(
            yaml.safe_dump(spec.model_dump(mode="json", exclude={"weights", "description"}), sort_keys=True).encode()
        )
        weights = entry_weights(bundle_dir, entry)
        if weights is None:
            continue
        files = [weights] if weights.is_file() else sorted(p for p in weights.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(weights.parent if weights.is_file() else weights).as_posix().encode())
            with file.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def bundle_size(bundle_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(bundle_dir).rglob("*") if p.is_file())


def load_pipeline(bundle_dir: Path, device: str | None = None):
    """Rebuild every adapter of a bundle; answers are stamped "name/version"."""
    from vision.adapters import build_adapter
    from vision.pipeline import Loaded, Pipeline

    bundle_dir = Path(bundle_dir)
    models: dict[str, Loaded] = {}
    for entry in read_bundle(bundle_dir):
        spec = ModelSpec.load(bundle_dir / entry.dir / SPEC_FILE)
        adapter = build_adapter(spec, entry_weights(bundle_dir, entry), device=device)
        models[entry.task] = Loaded(adapter, ref=f"{entry.name}/{entry.version}")
    return Pipeline(models)
