"""What data a run saw: MLflow dataset inputs, and the data version a review can cite.

The version is DVC's own: the md5 that dvc.lock records for the prepare stage's output
folder. Outside `dvc repro` (a plain `mlflow run`) there is no lock entry, so the content
digest that prepare wrote into dataset.json stands in; both change exactly when a byte of
the data does.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import yaml

DVC_LOCK = Path("dvc.lock")


def dvc_md5(out: Path, lock: Path = DVC_LOCK) -> str | None:
    """The md5 dvc.lock records for an output folder of the pipeline, if it has one."""
    try:
        stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    except (FileNotFoundError, yaml.YAMLError):
        return None
    for stage in stages.values():
        for entry in stage.get("outs", []):
            if Path(entry.get("path", "")) == out:
                return entry.get("md5")
    return None


def data_version(out: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """How a review names the data: dataset, upstream release, DVC md5 and per-split digests."""
    version = {"dataset": meta["name"], "release": meta["version"], "path": out.as_posix(), "digests": meta["digests"]}
    md5 = dvc_md5(out)
    if md5:
        version["dvc_md5"] = md5
    return version


def log_split(meta: dict[str, Any], out: Path, split: str, context: str, records: list[dict[str, Any]]) -> None:
    """Log one split as an MLflow dataset input of the active run, named and digested like DVC sees it.

    ``records`` is one row per example (its file and label), so the run shows the split's size,
    schema and class make-up without copying any pixels into the tracking store.
    """
    import mlflow
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas

    frame = pd.DataFrame.from_records(records)
    tags = {"split": split, "release": str(meta["version"]), "digest": meta["digests"][split]}
    md5 = dvc_md5(out)
    if md5:
        tags["dvc_md5"] = md5
    with warnings.catch_warnings():
        # MLflow registers its local-artifact source class twice and warns that a path matches
        # both; its schema inference warns about integer columns, which never miss values here.
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(
            frame, source=str((out / split).resolve()), name=f"{meta['name']}-{split}", digest=meta["digests"][split]
        )
        mlflow.log_input(dataset, context=context, tags=tags)
