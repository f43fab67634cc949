"""An embedded MLflow registry of one test module's own, and the promotion story several
modules read back (registry descriptions, the command line's tables)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

_ENV = ("MLFLOW_TRACKING_URI", "IDAAS_CATALOG", "IDAAS_USER")


@contextmanager
def private_registry(folder: Path, prefix: str, user: str | None = None) -> Iterator[Path]:
    """A SQLite registry in ``folder`` and a catalog of two model-free entries,
    ``{prefix}-props`` (properties, a top-1 threshold the gate checks) and ``{prefix}-describe``,
    set in the environment (``IDAAS_USER`` = ``user``, or unset) until the block ends.
    Yields the catalog's path."""
    from registry import store

    catalog = folder / "catalog.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": f"{prefix}-props",
                        "task": "properties",
                        "family": "properties",
                        "thresholds": {"top1_accuracy": 0.7},
                    },
                    {"name": f"{prefix}-describe", "task": "describe", "family": "describe"},
                ]
            }
        )
    )
    saved = {key: os.environ.get(key) for key in _ENV}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["IDAAS_CATALOG"] = str(catalog)
    if user is None:
        os.environ.pop("IDAAS_USER", None)
    else:
        os.environ["IDAAS_USER"] = user
    try:
        store.configure()
        yield catalog
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        store.configure()


def promotion_story(prefix: str, review: dict, photos: dict[str, Path], draft: dict | None = None) -> dict[str, Any]:
    """In the registry set up by ``private_registry``: ``{prefix}-props`` v1 and v2 and
    ``{prefix}-describe`` v1, each reviewed with ``review`` (v1 first with the ``draft`` review
    when one is given), v1 promoted to production, v2 compared with it and promoted, then rolled
    back, and a router ``{prefix}-router`` built over the candidates. Returns the versions (and
    v1's description while it held the draft, under "drafted")."""
    from registry import store
    from registry.compare import compare_versions
    from registry.reviews import set_review
    from registry.stages import promote, rollback
    from registry.versions import register_spec
    from serving.router import build_router
    from vision.spec import ModelSpec

    props, describer = f"{prefix}-props", f"{prefix}-describe"
    v1 = register_spec(ModelSpec(name=props, task="properties", family="properties")).version
    v2 = register_spec(ModelSpec(name=props, task="properties", family="properties", options={"colours": 3})).version
    describe = register_spec(ModelSpec(name=describer, task="describe", family="describe")).version
    story: dict[str, Any] = {}
    if draft is not None:
        set_review(props, v1, draft)
        story["drafted"] = store.client().get_model_version(props, v1).description
    for name, version in ((props, v1), (props, v2), (describer, describe)):
        set_review(name, version, review)
    promote(props, v1, "production", reason="first launch")
    compare_versions(props, v1, v2, next(iter(photos.values())).parent, limit=2)
    promote(props, v2, "production", reason="better accuracy")
    rollback(props, reason="v2 doubled latency")
    router, _, _ = build_router(f"{prefix}-router", alias="candidate")
    story.update(v1=str(v1), v2=str(v2), describe=str(describe), router=str(router.version))
    return story
