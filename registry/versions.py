"""Logging and registering versions: a bundle folder in, a registered pyfunc version out.

Every version is one MLflow run that logs the pyfunc (bundle artifacts, shipped code, pinned
requirements, signature, input example), registers it and points an alias (``candidate``)
at it, with the alias move recorded in the model's history.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry import bundle as bundles
from registry import store
from registry.lookup import quote
from vision.errors import ModelSpecError
from vision.spec import ModelSpec

log = logging.getLogger(__name__)

# Version tags (visible in the MLflow UI and searchable).
TAG_BUNDLE_VERSION = "idaas.bundle_version"
TAG_CONTENT_HASH = "idaas.content_hash"
TAG_TASKS = "idaas.tasks"
TAG_MODELS = "idaas.models"
TAG_SIZE = "idaas.size_bytes"
TAG_DESCRIPTION = "idaas.description"
TAG_REGISTERED_BY = "idaas.registered_by"
# Registered-model tags.
TAG_THRESHOLDS = "idaas.thresholds"

MODEL_ARTIFACT = "model"
_SHIPPED_REGISTRY = ("__init__.py", "pyfunc_model.py", "bundle.py")  # what load_context imports


@dataclass(frozen=True)
class LoggedVersion:
    name: str
    version: str
    run_id: str
    model_uri: str  # models:/NAME/VERSION
    created: bool = True  # False when register_spec found an identical version and reused it
    seconds: float = 0.0  # time spent logging and registering
    bundle_bytes: int = 0


def _stage_code(dest: Path) -> list[str]:
    # A loading process needs the whole core and, of the registry, only the pyfunc and the
    # bundle reader; the rest (logging, stages, reviews) stays out of every model version.
    repo = Path(__file__).resolve().parent.parent
    shutil.copytree(repo / "vision", dest / "vision", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "registry").mkdir(parents=True)
    for module in _SHIPPED_REGISTRY:
        shutil.copy2(repo / "registry" / module, dest / "registry" / module)
    return [str(dest / "vision"), str(dest / "registry")]


@contextmanager
def _quiet_logging():
    # log_model warns on every call that the model is pickled: deliberate, the class travels
    # by reference with the shipped code, so nothing but a name is in the pickle.
    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _check_bundle(bundle_dir: Path):
    """Load the bundle and answer one real photo, so a broken model is never registered."""
    from registry.signature import example_image

    pipeline = bundles.load_pipeline(bundle_dir)
    image = example_image()
    if image is not None:
        answer = pipeline.annotate([image], ids=["example"])[0]
        problems = [f"{answer.error.code}: {answer.error.message}"] if answer.error else []
        problems += [f"{task}: {err.message}" for task, err in answer.task_errors.items()]
        if problems:
            raise ModelSpecError(f"the bundle fails on the example photo ({'; '.join(problems)}); not registered")
    return pipeline


def _ensure_registered_model(client, name: str, description: str, tasks: list[str]) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        client.create_registered_model(name, tags={"idaas.task": ",".join(tasks)}, description=description or None)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def log_bundle(
    registered_name: str,
    bundle_dir: Path,
    *,
    description: str = "",
    tags: Mapping[str, Any] | None = None,
    run_params: Mapping[str, Any] | None = None,
    run_metrics: Mapping[str, float] | None = None,
    artifacts_extra: Mapping[str, Path] | None = None,
    alias: str | None = "candidate",
    thresholds: Mapping[str, float] | None = None,
) -> LoggedVersion:
    """Log a bundle folder as a pyfunc in one MLflow run, register it and set ``alias`` on it.

    The bundle entry named ``registered_name`` (a single-model bundle's only entry) is stamped
    with the version number it gets; entries of other models (a router's) keep theirs.
    ``artifacts_extra`` maps an artifact folder of the run to a local file or folder
    (evaluation plots, a confusion matrix). ``thresholds`` (metric -> minimum) are what the
    production gate requires when the model is not in the catalog. If an MLflow run is already
    active (a training run), the model is logged into it.
    """
    import mlflow

    from registry.history import record_move
    from registry.pyfunc_model import IdaasModel
    from registry.requirements import pip_requirements, spec_families
    from registry.signature import input_example, model_signature

    started = time.perf_counter()
    store.configure()
    client = store.client()
    with tempfile.TemporaryDirectory(prefix="idaas-log-") as tmp:
        staged = Path(tmp) / "bundle"
        shutil.copytree(bundle_dir, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        entries = bundles.read_bundle(staged)
        own = [e for e in entries if e.name == registered_name]
        tasks = [e.task for e in entries]
        families = []
        for entry in entries:
            families.extend(spec_families(ModelSpec.load(staged / entry.dir / bundles.SPEC_FILE)))
        families = list(dict.fromkeys(families))
        digest = bundles.content_hash(staged)
        size = bundles.bundle_size(staged)
        pipeline = _check_bundle(staged)
        code_paths = _stage_code(Path(tmp) / "code")
        signature = model_signature(pipeline)
        requirements = pip_requirements(families)
        example = input_example()
        del pipeline
        _ensure_registered_model(client, registered_name, description, tasks)
        if thresholds:
            client.set_registered_model_tag(registered_name, TAG_THRESHOLDS, json.dumps(dict(thresholds)))
        version_tags = {
            TAG_CONTENT_HASH: digest,
            TAG_TASKS: ",".join(tasks),
            TAG_SIZE: str(size),
            TAG_DESCRIPTION: description,
            TAG_REGISTERED_BY: store.current_user(),
            **{k: str(v) for k, v in (tags or {}).items()},
        }

        active = mlflow.active_run()
        run_ctx = (
            mlflow.start_run(experiment_id=store.experiment_id(), run_name=registered_name)
            if active is None
            else nullcontext(active)
        )
        with run_ctx as run:
            run_id = run.info.run_id
            mlflow.set_tags({"idaas.registered_name": registered_name, "idaas.tasks": ",".join(tasks)})
            mlflow.log_params(
                {
                    "registered_name": registered_name,
                    "tasks": ",".join(tasks),
                    "families": ",".join(families),
                    **dict(run_params or {}),
                }
            )
            if run_metrics:
                mlflow.log_metrics(dict(run_metrics))
            for artifact_path, local in (artifacts_extra or {}).items():
                local = Path(local)
                if local.is_dir():
                    mlflow.log_artifacts(str(local), artifact_path=artifact_path)
                else:
                    mlflow.log_artifact(str(local), artifact_path=artifact_path)

            for entry in own:  # stamped below, once the registry has assigned the number
                entry.version = "0"
            bundles.write_bundle(staged, entries)
            carried = ",".join(f"{e.name}/{e.version}" for e in entries)
            with _quiet_logging():
                info = mlflow.pyfunc.log_model(
                    name=MODEL_ARTIFACT,
                    python_model=IdaasModel(),
                    artifacts={"bundle": str(staged)},
                    code_paths=code_paths,
                    pip_requirements=requirements,
                    signature=signature,
                    input_example=example,
                )
            mv = client.create_model_version(
                registered_name,
                source=info.model_uri,
                run_id=run_id,
                tags={**version_tags, TAG_MODELS: carried},
                description=_version_description(description, entries),
                model_id=info.model_id,
            )
            if own:
                _stamp(client, info.model_id, staged, entries, own, str(mv.version))
                client.set_model_version_tag(registered_name, mv.version, TAG_BUNDLE_VERSION, str(mv.version))
                client.set_model_version_tag(
                    registered_name, mv.version, TAG_MODELS, ",".join(f"{e.name}/{e.version}" for e in entries)
                )
                client.update_model_version(
                    registered_name, mv.version, description=_version_description(description, entries)
                )
    if alias:
        record_move(registered_name, alias, mv.version, why="registered", kind="register")
    return LoggedVersion(
        name=registered_name,
        version=str(mv.version),
        run_id=run_id,
        model_uri=f"models:/{registered_name}/{mv.version}",
        seconds=round(time.perf_counter() - started, 2),
        bundle_bytes=size,
    )


def _stamp(client, model_id: str, staged: Path, entries, own, version: str) -> None:
    """Write the number the registry assigned into the logged bundle's index.

    The number must be inside the artifacts (answers say "name/3" where no registry can be
    reached), but only the registry assigns it, when the version is created, after the
    artifacts are uploaded. So the bundle is logged with "0", the version created, and its
    bundle.yaml replaced before any alias points at the version. Numbers are never predicted:
    concurrent registrations on a team server get the server's distinct, gap-free numbers.
    """
    for entry in own:
        entry.version = version
    bundles.write_bundle(staged, entries)
    client.log_model_artifact(model_id, str(staged / bundles.BUNDLE_FILE), "artifacts/bundle")


def _version_description(description: str, entries: list[bundles.BundleEntry]) -> str:
    models = ", ".join(f"`{e.name}/{e.version}` ({e.task})" for e in entries)
    return f"{description}\n\nModels: {models}".strip()


def find_identical(name: str, digest: str):
    """The registered version of ``name`` whose content hash is ``digest``, if any."""
    from mlflow.exceptions import MlflowException

    try:
        found = store.client().search_model_versions(
            f"name = '{quote(name)}' and tags.`{TAG_CONTENT_HASH}` = '{digest}'"
        )
    except MlflowException:
        return None
    return max(found, key=lambda mv: int(mv.version)) if found else None


def register_spec(
    spec: ModelSpec,
    weights: Path | None = None,
    *,
    skip_unchanged: bool = False,
    description: str | None = None,
    **kwargs,
) -> LoggedVersion:
    """Register one model from its spec and weights (a one-entry bundle).

    ``weights`` None resolves ``spec.weights`` (offline). With ``skip_unchanged``, a version
    whose spec and weights hash alike is returned instead of registering a duplicate.
    """
    from vision.weights import resolve_weights

    started = time.perf_counter()
    if weights is None and spec.weights:
        weights = resolve_weights(spec.weights)
    with tempfile.TemporaryDirectory(prefix="idaas-bundle-") as tmp:
        bundle_dir = Path(tmp) / "bundle"
        entry = bundles.add_model(bundle_dir, spec, weights)
        bundles.write_bundle(bundle_dir, [entry])
        if skip_unchanged:
            store.configure()
            existing = find_identical(spec.name, bundles.content_hash(bundle_dir))
            if existing is not None:
                return LoggedVersion(
                    name=spec.name,
                    version=str(existing.version),
                    run_id=existing.run_id,
                    model_uri=f"models:/{spec.name}/{existing.version}",
                    created=False,
                    seconds=round(time.perf_counter() - started, 2),
                    bundle_bytes=int(existing.tags.get(TAG_SIZE, 0) or 0),
                )
        logged = log_bundle(
            spec.name, bundle_dir, description=spec.description if description is None else description, **kwargs
        )
    return LoggedVersion(**{**logged.__dict__, "seconds": round(time.perf_counter() - started, 2)})


def download_bundle(name: str, version_or_alias: str | int, dest: Path) -> Path:
    """Download a registered version's bundle folder (``3`` or an alias such as ``production``).

    The router build merges these; comparisons load them directly.
    """
    import mlflow
    from mlflow.models import Model

    store.configure()
    ref = str(version_or_alias)
    uri = f"models:/{name}/{ref}" if ref.isdigit() else f"models:/{name}@{ref}"
    Path(dest).mkdir(parents=True, exist_ok=True)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))
    conf = Model.load(str(local / "MLmodel")).flavors["python_function"]
    return local / conf["artifacts"]["bundle"]["path"]
