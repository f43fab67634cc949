"""Where the registry lives: the embedded default (SQLite + local artifacts in the data
directory) or a team's `mlflow server` named by ``MLFLOW_TRACKING_URI``. Every registry
entry point calls ``configure()`` first; nothing else in idaas reads these variables.
"""

from __future__ import annotations

import getpass
import os
import re
import threading
from urllib.parse import urlparse

from vision.settings import apply_offline_env

EXPERIMENT = "idaas"
_REMOTE_SCHEMES = ("http", "https", "databricks", "databricks-uc", "uc")

_lock = threading.Lock()
_configured: dict[str, str] = {}  # tracking uri -> experiment id
# mlflow.set_tracking_uri/set_registry_uri also export MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI
# (so child processes inherit them). What configure() exported itself is not a user's choice:
# a later IDAAS_HOME or MLFLOW_TRACKING_URI must still win over it.
_exported: dict[str, str] = {}


def _chosen(var: str) -> str | None:
    value = os.environ.get(var)
    return value if value and value != _exported.get(var) else None


def tracking_uri() -> str:
    settings = apply_offline_env()
    return _chosen("MLFLOW_TRACKING_URI") or settings.default_tracking_uri


def registry_uri() -> str:
    return _chosen("MLFLOW_REGISTRY_URI") or tracking_uri()


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
    separate_registry = _chosen("MLFLOW_REGISTRY_URI") is not None
    for var, value, setter in (
        ("MLFLOW_TRACKING_URI", uri, mlflow.set_tracking_uri),
        ("MLFLOW_REGISTRY_URI", reg_uri, mlflow.set_registry_uri),
    ):
        before = os.environ.get(var)
        setter(value)
        if before == value and _exported.get(var) != value:
            _exported.pop(var, None)  # the user's own choice
        else:
            _exported[var] = value
    if not separate_registry:
        # The registry is the tracking server: a child process pointed at another tracking URI
        # must not inherit this one's registry.
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
        _exported.pop("MLFLOW_REGISTRY_URI", None)
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
        _mark_model_training(client, experiment_id, experiment)
        _configured[uri] = experiment_id
        _activate(experiment_id)
    return uri


# MLflow's UI opens an experiment in the layout its kind names; untagged, it guesses and
# shows the GenAI one (traces, token usage). idaas runs train and evaluate models.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def _mark_model_training(client, experiment_id: str, experiment=None) -> None:
    from mlflow.exceptions import MlflowException

    if experiment is not None and experiment.tags.get(EXPERIMENT_KIND_TAG):
        return  # someone chose a kind already: keep it
    try:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    except MlflowException:  # a read-only user on a team server: the layout is cosmetic
        pass


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
    """Who is acting, for the records.

    On a tracking server it is the user the server authenticates (basic-auth's
    MLFLOW_TRACKING_USERNAME): a name the caller merely claims cannot be recorded there.
    On a database URI it is the database login when the URI names one. ``IDAAS_USER``
    applies only to the embedded SQLite registry, where the OS user is the only identity.
    """
    uri = registry_uri()
    if is_remote(uri):
        return os.environ.get("MLFLOW_TRACKING_USERNAME") or _os_user()
    parsed = urlparse(uri)
    if parsed.scheme.startswith("sqlite") or not parsed.scheme:
        return os.environ.get("IDAAS_USER") or _os_user()
    return parsed.username or _os_user()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s:]+):([^/@\s]*)@")


def redact(text: str) -> str:
    """``text`` without credentials: passwords in URIs and the tracking password's value."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:***@", str(text))
    for var in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        secret = os.environ.get(var)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
