"""`idaas models derive`: a new faces version whose bundle carries a learned attribute model.

The detector weights are the base version's, byte for byte; the attribute model's spec and
weights are copied into ``<weights>/attributes``, so the new version loads with no registry
access. It is registered as a candidate with a draft review (decision ``prototype``) holding
the attribute model's measured figures and data version; a person completes it, then the usual
gate, router and serve.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from registry import bundle as bundles
from registry import store
from registry.lookup import aliases, get_model, get_version
from registry.reviews import current_review, set_review
from registry.versions import LoggedVersion, download_bundle, register_spec
from vision.errors import BadRequestError
from vision.spec import ModelSpec

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")
DETECTOR_FILES = ("pnet.pt", "rnet.pt", "onet.pt")


@dataclass
class Derived:
    logged: LoggedVersion
    base: str  # name/version
    attribute_models: dict[str, str]  # attribute -> name/version
    review_revision: int


def _resolve(uri: str) -> tuple[str, str]:
    """models:/NAME/3 or models:/NAME@alias -> (name, version)."""
    match = _URI.match(uri.strip())
    if not match:
        raise BadRequestError(f"{uri!r} is not a model URI (models:/NAME/VERSION or models:/NAME@ALIAS)")
    name = match["name"]
    if match["version"]:
        return name, str(get_version(store.client(), name, match["version"]).version)
    version = aliases(get_model(store.client(), name)).get(match["alias"])
    if version is None:
        raise BadRequestError(f"no version of {name} holds @{match['alias']}")
    return name, version


def _entry(bundle_dir: Path, task: str) -> tuple[ModelSpec, Path | None]:
    entries = [e for e in bundles.read_bundle(bundle_dir) if e.task == task]
    if len(entries) != 1:
        raise BadRequestError(f"the version holds {len(entries)} {task} models; derive needs exactly one")
    entry = entries[0]
    return ModelSpec.load(bundle_dir / entry.dir / bundles.SPEC_FILE), bundles.entry_weights(bundle_dir, entry)


def parse_attributes(values: list[str]) -> dict[str, str]:
    """["sunglasses=models:/x@candidate"] -> {"sunglasses": "models:/x@candidate"}."""
    out = {}
    for value in values:
        attribute, sep, uri = value.partition("=")
        if not sep or not attribute.strip() or not uri.strip():
            raise BadRequestError(f"--attribute takes NAME=MODEL_URI, got {value!r}")
        out[attribute.strip()] = uri.strip()
    if len(set(out.values())) != 1:
        raise BadRequestError("every --attribute must name the same classifier (one attribute model per version)")
    return out


def draft_review(
    base: str, attribute_models: dict[str, str], source_reviews: dict[str, object], base_review: object | None
) -> dict:
    """The review a derived version starts with: the attribute model's figures under
    ``<attribute>_<metric>``, its evaluation data, and the base version's detector figures (same
    detector weights) without the base's own attribute figures."""
    metrics: dict[str, float] = {}
    if base_review is not None:
        metrics.update(
            {
                k: v
                for k, v in base_review.review.metrics.items()  # type: ignore[attr-defined]
                if not any(k.startswith(f"{a}_") for a in attribute_models)
            }
        )
    evaluation = {"dataset": "not measured yet", "version": "unknown"}
    for attribute, revision in source_reviews.items():
        if revision is None:
            continue
        review = revision.review  # type: ignore[attr-defined]
        metrics.update({f"{attribute}_{k}": v for k, v in review.metrics.items()})
        evaluation = {
            "dataset": f"{attribute}: {review.evaluation.dataset}",
            "version": review.evaluation.version,
            "size": review.evaluation.size,
            "description": f"the attribute model's own evaluation ({attribute_models[attribute]})",
        }
    names = ", ".join(f"{a} from {m}" for a, m in attribute_models.items())
    return {
        "question": f"Do faces show {', '.join(attribute_models)}? (learned attribute)",
        "business_metric": "not chosen yet (the reviewer sets it)",
        "expected_impact": {"low": 0, "high": 0, "unit": "not estimated yet"},
        "evaluation": evaluation,
        "metrics": metrics,
        "risks": [],
        "decision": "prototype",
        "draft": True,  # shown as "DRAFT — not reviewed" until a person attaches their own review
        "reviewer": store.current_user(),
        "date": dt.date.today().isoformat(),
        "notes": f"Draft written by `idaas models derive`: {base} with {names}. Detector figures are "
        "carried from the base version (same detector weights); attribute figures are the attribute "
        "model's own test metrics. The reviewer completes business metric, impact and risks.",
    }


def derive_faces(
    base_uri: str,
    attributes: dict[str, str],
    *,
    positive: str | None = None,
    min_face_px: float = 24.0,
    min_confidence: float = 0.1,
    alias: str = "candidate",
) -> Derived:
    """Register a new version of the base faces model scoring ``attributes`` with a classifier.

    ``attributes``: attribute -> classifier URI; the attribute's score is the classifier's
    probability of the class named like the attribute (or ``positive``). The learned model
    abstains on faces under ``min_face_px`` and on probabilities within ``min_confidence`` of 0.5.
    """
    store.configure()
    base_name, base_version = _resolve(base_uri)
    (model_uri,) = set(attributes.values())
    clf_name, clf_version = _resolve(model_uri)
    with tempfile.TemporaryDirectory(prefix="idaas-derive-") as tmp:
        base_spec, base_weights = _entry(download_bundle(base_name, base_version, Path(tmp) / "base"), "faces")
        clf_spec, clf_weights = _entry(download_bundle(clf_name, clf_version, Path(tmp) / "attr"), "classify")
        if base_spec.family != "mtcnn" or base_weights is None:
            raise BadRequestError(f"{base_name}/{base_version} is not an MTCNN faces model with weights")
        if clf_weights is None:
            raise BadRequestError(f"{clf_name}/{clf_version} has no weights to carry")
        labels = clf_spec.labels or []
        classes = {a: (positive or a) for a in attributes}
        missing = sorted(c for c in classes.values() if c not in labels)
        if missing:
            raise BadRequestError(f"{clf_name}/{clf_version} has no class {missing}; its classes: {labels}")
        weights = Path(tmp) / "weights"
        weights.mkdir()
        for name in DETECTOR_FILES:
            shutil.copy2(Path(base_weights) / name, weights / name)
        (weights / "attributes").mkdir()
        if Path(clf_weights).is_dir():
            shutil.copytree(clf_weights, weights / "attributes", dirs_exist_ok=True)
        else:
            shutil.copy2(clf_weights, weights / "attributes" / Path(clf_weights).name)
        options = dict(base_spec.options)
        options["attributes"] = {
            "method": "model",
            "family": clf_spec.family,
            "class_names": labels,
            "options": dict(clf_spec.options),
            "labels": classes,
            "min_face_px": min_face_px,
            "min_confidence": min_confidence,
            "source": f"{clf_name}/{clf_version}",
        }
        spec = base_spec.model_copy(
            update={
                "options": options,
                "weights": None,
                "description": f"{base_spec.description or base_name} Attributes {', '.join(attributes)} from "
                f"the classifier {clf_name}/{clf_version}.",
            }
        )
        logged = register_spec(
            spec,
            weights,
            alias=alias,
            tags={
                "idaas.derived_from": f"{base_name}/{base_version}",
                **{f"idaas.attribute.{a}": f"{clf_name}/{clf_version}" for a in attributes},
            },
        )
    base = f"{base_name}/{base_version}"
    models = {a: f"{clf_name}/{clf_version}" for a in attributes}
    review = set_review(
        logged.name,
        logged.version,
        draft_review(
            base,
            models,
            {a: current_review(clf_name, clf_version) for a in attributes},
            current_review(base_name, base_version),
        ),
    )
    return Derived(logged=logged, base=base, attribute_models=models, review_revision=review.revision)
