"""Stage 4, register: each trained model becomes a registered pyfunc version with alias
``candidate`` and a draft impact review (decision ``prototype``).

The version is logged into the model's own training run, so the run behind a version shows
its parameters, per-epoch curves, test metrics, plots and dataset inputs together. The draft
review is pre-filled with the test metrics, the evaluation data and its version (DVC's md5
of the prepared data) and the run id; a person then completes and revises it
(`idaas reviews set`). Writes reports/registered.json.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from training.config import (
    CLASSIFIER_DIR,
    CLASSIFY_DATA,
    DETECT_DATA,
    DETECTOR_DIR,
    METRICS_FILE,
    REGISTERED_FILE,
    Params,
    ReviewDraft,
)
from training.lineage import data_version
from training.stage import read_json, stage_main, start_tracking, write_json
from vision.spec import ModelSpec

# kind -> (model folder, weights file, prepared data, evaluated split description)
MODELS = {
    "classifier": (CLASSIFIER_DIR, "weights.pth", CLASSIFY_DATA),
    "detector": (DETECTOR_DIR, "weights.pt", DETECT_DATA),
}


def _version_text(version: dict[str, Any], split: str) -> str:
    if "dvc_md5" in version:
        return f"dvc md5 {version['dvc_md5']} ({version['path']}), {split} split sha256 {version['digests'][split]}"
    return f"{split} split sha256 {version['digests'][split]} ({version['path']}, not yet in dvc.lock)"


def draft_review(
    kind: str,
    draft: ReviewDraft,
    metrics: dict[str, float],
    version: dict[str, Any],
    split: str,
    run_id: str,
    reviewer: str,
) -> dict[str, Any]:
    """The impact review a new candidate starts with; everything measured is filled in."""
    return {
        "question": draft.question,
        "business_metric": draft.business_metric,
        "expected_impact": draft.expected_impact.model_dump(),
        "evaluation": {
            "dataset": f"{version['dataset']} ({split} split)",
            "version": _version_text(version, split),
            "size": int(metrics.get("test_images", 0)),
            "description": f"held-out {split} split made by the prepare stage ({version['release']}); "
            f"MLflow run {run_id}",
        },
        "metrics": {k: round(float(v), 4) for k, v in metrics.items() if k != "test_images"},
        "risks": [risk.model_dump() for risk in draft.risks],
        "decision": "prototype",
        "draft": True,  # shown as "DRAFT — not reviewed" until a person attaches their own review
        "reviewer": reviewer,
        "date": date.today().isoformat(),
        "notes": f"Draft written by the training pipeline for the {kind} trained in MLflow run {run_id}. "
        "Business metric, expected impact and risks are still to be completed by the reviewer.",
    }


def register_model(kind: str, params: Params, metrics: dict[str, float]) -> dict[str, Any]:
    import mlflow

    from registry import store
    from registry.reviews import current_review, set_review
    from registry.versions import register_spec

    folder, weights_file, data = MODELS[kind]
    spec = ModelSpec.load(folder / "spec.yaml")
    trained = read_json(folder / "train.json", f"train_{kind}")
    run_id = trained["run_id"]
    meta = read_json(data / "dataset.json", "prepare")
    split = meta.get("eval_split", "test")
    version = data_version(data, meta)
    draft: ReviewDraft = getattr(params.registration, kind)
    tags = {"idaas.train_run": run_id, "idaas.data_version": _version_text(version, split)}
    with mlflow.start_run(run_id=run_id):
        logged = register_spec(
            spec,
            folder / weights_file,
            skip_unchanged=True,
            tags=tags,
            alias=params.registration.alias,
            thresholds=draft.thresholds or None,
        )
    reviewer = params.registration.reviewer or store.current_user()
    review = current_review(logged.name, logged.version)
    if logged.created or review is None:
        review = set_review(
            logged.name, logged.version, draft_review(kind, draft, metrics, version, split, run_id, reviewer)
        )
    state = "registered" if logged.created else "unchanged, already registered as"
    print(
        f"register: {kind} {state} {logged.model_uri} (alias {params.registration.alias}, "
        f"review revision {review.revision}: {review.review.decision})"
    )
    return {
        "kind": kind,
        "name": logged.name,
        "version": logged.version,
        "model_uri": logged.model_uri,
        "run_id": logged.run_id,
        "alias": params.registration.alias,
        "created": logged.created,
        "review_revision": review.revision,
        "data_version": tags["idaas.data_version"],
    }


def run(params: Params) -> None:
    """Register the trained classifier and detector as candidates with draft impact reviews."""
    metrics = read_json(METRICS_FILE, "evaluate")
    start_tracking()
    registered = [register_model(kind, params, metrics[kind]) for kind in MODELS]
    write_json(REGISTERED_FILE, registered)


main = stage_main("register", run, {"alias": "registration.alias"})

if __name__ == "__main__":
    main()
