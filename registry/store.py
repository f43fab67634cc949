"""Where the registry lives: the embedded default (SQLite + local artifacts in the data
directory) or a team's `mlflow server` named by ``MLFLOW_TRACKING_URI``. Every registry
entry point calls ``configure()`` first; nothing else in idaas reads these variables.
"""

from __future__ import annotations

import getpass
import os
import threading
from urllib.parse import urlparse

from vision.settings import apply_offline_env

EXPERIMENT = "idaas"
_REMOTE_SCHEMES = ("http", "https", "databricks", "databricks-uc", "uc")

_lock = threading.Lock()
_configured: dict[str, str] = {}  # tracking uri -> experiment id


def tracking_uri() -> str:
    settings = apply_offline_env()
    return os.environ.get("MLFLOW_TRACKING_URI") or settings.default_tracking_uri


def registry_uri() -> str:
    return os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri()


def is_remote(uri: str | None = None) -> bool:
    """A tracking server decides where artifacts go; a database URI leaves it to us."""
    return urlparse(uri or tracking_uri()).scheme in _REMOTE_SCHEMES


def configure() -> str:
    """Point MLflow at the registry and make sure the "idaas" experiment exists; returns the URI.

    For a database URI (the embedded SQLite default, or one a user exported) the experiment's
    artifact location is the data directory's artifacts folder; otherwise MLflow would write
    ./mlruns wherever the command happens to run. A server keeps its own artifact root.
    Idempotent and cheap after the first call for a given URI.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    settings = apply_offline_env()
    # Progress bars for a few local files only clutter the CLI's output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri, reg_uri = tracking_uri(), registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(reg_uri)
    with _lock:
        if uri in _configured:
            _activate(_configured[uri])
            return uri
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=reg_uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            location = None
            if not is_remote(uri):
                settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
                location = settings.artifacts_dir.resolve().as_uri()
            try:
                experiment_id = client.create_experiment(EXPERIMENT, artifact_location=location)
            except MlflowException:  # another process created it first
                experiment = client.get_experiment_by_name(EXPERIMENT)
                if experiment is None:
                    raise
                experiment_id = experiment.experiment_id
        else:
            experiment_id = experiment.experiment_id
        _configured[uri] = experiment_id
        _activate(experiment_id)
    return uri


def _activate(experiment_id: str) -> None:
    # Runs started without an explicit experiment (training, notebooks) land in "idaas" too,
    # unless the user chose another one through MLflow's own variables.
    import mlflow

    if os.environ.get("MLFLOW_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return
    mlflow.set_experiment(experiment_id=experiment_id)
    # set_experiment also exports MLFLOW_EXPERIMENT_ID; a child process may point at another
    # registry, and the variable would then read as the user's own choice, so take it back.
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


def experiment_id() -> str:
    uri = configure()
    return _configured[uri]


def client():
    """An MlflowClient on the configured tracking and registry URIs."""
    import mlflow

    uri = configure()
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=registry_uri())


def current_user() -> str:
    """Who is acting, for the history: the registry login when there is one, else the OS user."""
    for var in ("IDAAS_USER", "MLFLOW_TRACKING_USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"
