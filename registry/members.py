"""What a registered version really carries, read from its immutable artifacts (never from tags):
the bundle index (which model versions answer which task) and, for a router, the gate record
written when it was built (the digest of each member's review record).

Only these two small files are downloaded, not the weights.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path

from registry import store
from registry.bundle import BUNDLE_FILE, read_bundle
from vision.errors import IdaasError

GATE_FILE = "gate.json"  # in a router's bundle folder, beside bundle.yaml
# Written by MLflow into every local download of a registered version; not part of what is stored.
_DOWNLOAD_ONLY = {"registered_model_meta"}
_BUNDLE_PATH = "artifacts/bundle"  # the pyfunc's "bundle" artifact inside the model folder


def _download(name: str, version: str, filename: str, dest: Path) -> Path | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    store.configure()
    try:
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{version}/{_BUNDLE_PATH}/{filename}", dst_path=str(dest)
            )
        )
    except (MlflowException, OSError):
        return None


@lru_cache(maxsize=256)
def _read(uri: str, name: str, version: str) -> tuple[tuple[tuple[str, str, str], ...], str | None]:
    # Keyed by the registry URI too: tests and tools switch registries within one process.
    # A version's artifacts never change once registered, so the answer can be kept.
    with tempfile.TemporaryDirectory(prefix="idaas-members-") as tmp:
        index = _download(name, version, BUNDLE_FILE, Path(tmp) / "index")
        if index is None:
            raise IdaasError(
                f"{name} version {version} has no idaas bundle in its artifacts "
                "(registered outside idaas?); the gate cannot tell what it serves"
            )
        entries = tuple((e.task, e.name, e.version) for e in read_bundle(index.parent))
        gate = _download(name, version, GATE_FILE, Path(tmp) / "gate")
        return entries, gate.read_text() if gate is not None else None


def bundle_entries(name: str, version: str | int) -> list[tuple[str, str, str]]:
    """(task, model name, model version) of every model the version's bundle carries."""
    return list(_read(store.registry_uri(), name, str(version))[0])


def bundle_members(name: str, version: str | int) -> list[tuple[str, str]]:
    return [(n, v) for _, n, v in bundle_entries(name, version)]


def gate_record(name: str, version: str | int) -> dict | None:
    """The gate record a router version was built with (None for single models and old routers)."""
    raw = _read(store.registry_uri(), name, str(version))[1]
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"unreadable": True}


def tree_digest(folder: Path) -> str:
    """SHA-256 over every file of a model folder (relative path and bytes): code, weights, specs."""
    import hashlib

    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in _DOWNLOAD_ONLY:
            continue
        file_digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                file_digest.update(block)
        digest.update(f"{rel}\0{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()


def artifact_digest(name: str, version: str | int) -> str:
    """The digest of everything a registered version's model folder holds, as stored now.

    A review records it; the gate recomputes it, so artifacts replaced after the review (an
    EDIT user can upload over a logged model's files) are caught. Never cached: that is the point.
    """
    import mlflow

    store.configure()
    with tempfile.TemporaryDirectory(prefix="idaas-digest-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp)
        return tree_digest(Path(local))
