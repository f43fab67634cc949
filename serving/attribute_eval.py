"""The faces model's sunglasses figures for its impact review: the registered version itself,
run on the labelled set of vision/sunglasses_eval.py (a few minutes on 2 CPU cores), cached in
the data directory by the version's content hash and the code that decides the answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from registry.lookup import get_version
from registry.store import client, configure
from registry.versions import TAG_CONTENT_HASH
from vision import face_quality, sunglasses_eval, synthetic_lenses
from vision.adapters import faces_mtcnn, mtcnn_batched
from vision.settings import get_settings

_CODE = (face_quality, sunglasses_eval, synthetic_lenses, faces_mtcnn, mtcnn_batched)


def _cache_file(name: str, version: str) -> Path:
    content = get_version(client(), name, version).tags.get(TAG_CONTENT_HASH, f"{name}/{version}")
    digest = hashlib.sha256(content.encode())
    for module in _CODE:
        digest.update(Path(module.__file__ or "").read_bytes())
    return get_settings().home / "evaluations" / f"sunglasses-{digest.hexdigest()[:16]}.json"


def sunglasses_evaluation(name: str, version: str) -> dict:
    """Precision, recall, abstention rate (overall and per part of the set) of ``name/version``."""
    import mlflow.pyfunc
    import pandas as pd

    configure()
    cache = _cache_file(name, version)
    if cache.exists():
        return json.loads(cache.read_text())
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")

    def predict(images: list[bytes], ids: list[str]) -> list[dict]:
        return list(model.predict(pd.DataFrame({"id": ids, "image": images})))

    result = sunglasses_eval.evaluate(predict)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result, indent=1))
    return result


def review_metrics(evaluation: dict) -> dict[str, float]:
    """The figures an impact review records (reviews hold numbers only: a part without answers
    has no precision and is left out)."""
    metrics = {
        "sunglasses_abstention_rate": evaluation["abstention_rate"],
        "sunglasses_eval_faces": float(evaluation["faces"]),
    }
    for key in ("precision", "recall"):
        if evaluation.get(key) is not None:
            metrics[f"sunglasses_{key}"] = evaluation[key]
    real = evaluation["parts"].get("real", {})
    for key in ("precision", "recall", "abstention_rate"):
        if real.get(key) is not None:
            metrics[f"sunglasses_real_photos_{key}"] = real[key]
    return metrics


if __name__ == "__main__":  # python -m serving.attribute_eval faces-mtcnn 1: the figures, as JSON
    import sys

    from vision.settings import apply_offline_env

    apply_offline_env()
    print(json.dumps(sunglasses_evaluation(sys.argv[1], sys.argv[2]), indent=1))
