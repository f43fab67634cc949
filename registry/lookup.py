"""Finding a registered model or version, with errors that name what does exist."""

from __future__ import annotations

from vision.errors import IdaasError


def get_model(client, name: str):
    """The registered model, or an IdaasError naming the ones that exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    names = sorted(m.name for m in client.search_registered_models(max_results=200))
    known = (
        f"registered models: {', '.join(names)}"
        if names
        else "the registry has no models yet (run `idaas models bootstrap`)"
    )
    raise IdaasError(f"no registered model named {name!r}; {known}") from None


def versions_of(client, name: str) -> list:
    """Every (not deleted) version of a model, oldest first."""
    found = client.search_model_versions(f"name = '{quote(name)}'")
    return sorted(found, key=lambda mv: int(mv.version))


def get_version(client, name: str, version: str | int | None):
    """One version of a model, or an IdaasError saying which versions exist."""
    from mlflow.exceptions import MlflowException

    get_model(client, name)
    existing = [str(mv.version) for mv in versions_of(client, name)]
    if version is None or str(version).strip() == "":
        raise IdaasError(f"give a version of {name}; it has: {', '.join(existing) or 'none'}")
    if not str(version).isdigit():
        raise IdaasError(f"version must be a number, got {version!r}; {name} has: {', '.join(existing) or 'none'}")
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    raise IdaasError(f"{name} has no version {version}; it has: {', '.join(existing) or 'none'}") from None


def quote(value: str) -> str:
    """Escape a value for an MLflow search filter's single-quoted string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def aliases(model) -> dict[str, str]:
    """alias -> version (as text) of a RegisteredModel; MLflow hands the versions back as ints."""
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def refused_for_permissions(exc) -> bool:
    """Whether an MlflowException is the tracking server's 403 (basic-auth, no EDIT permission)."""
    return getattr(exc, "error_code", "") == "PERMISSION_DENIED" or "403" in str(getattr(exc, "message", exc))[:200]


def all_models(client) -> list[str]:
    """The names of every registered model."""
    names: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=200, page_token=token)
        names.extend(m.name for m in page)
        token = page.token
        if not token:
            return names
