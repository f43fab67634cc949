"""Train your own attribute, end to end: `idaas faces crops` on real photos -> a labelled folder
(real crops as negatives, the same crops with rendered dark lenses as positives, bus.jpg's real
wearers) -> the training pipeline's classifier stages register a candidate -> `idaas models
derive` -> review -> promote -> router -> REST answering with the learned score.

The set is synthetic: it exercises the loop and says nothing about real-world accuracy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageEnhance, ImageOps

from vision.synthetic_lenses import render_lenses

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
WEARERS = {"bus"}
CLASSIFIER = "sunglasses-loop-clf"
ROUTER = "idaas-sunglasses-loop"
# The classifier half of the pipeline's stages, in dvc.yaml's order (the detector half is not
# needed for an attribute and would triple the time).
STAGES = """
from training.config import METRICS_FILE, load_params
from training import evaluate, prepare, register, train_classifier
from training.stage import write_json
params = load_params()
prepare.prepare_classify(params, None)
train_classifier.run(params)
evaluate.IMAGES_DIR.mkdir(parents=True, exist_ok=True)  # as evaluate.run does before it evaluates
metrics, _ = evaluate.evaluate_classifier(params)
write_json(METRICS_FILE, {"classifier": metrics})
print(json.dumps(register.register_model("classifier", params, metrics)))
"""


def _idaas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idaas", *args], capture_output=True, text=True, timeout=900)


def _labelled_folder(crops_dir: Path, dest: Path) -> dict[str, int]:
    """Sort the exported crops into sunglasses/ and no_sunglasses/ (with plain augmentations)."""
    manifest = pd.read_csv(crops_dir / "manifest.csv")
    rng = np.random.default_rng(0)
    counts = {"sunglasses": 0, "no_sunglasses": 0}

    def save(picture: Image.Image, label: str) -> None:
        folder = dest / label
        folder.mkdir(parents=True, exist_ok=True)
        for n, variant in enumerate((picture, ImageOps.mirror(picture), ImageEnhance.Brightness(picture).enhance(0.8))):
            variant.save(folder / f"{counts[label]:04d}-{n}.png")
        counts[label] += 3

    for row in manifest.itertuples():
        crop = Image.open(crops_dir / row.crop).convert("RGB")
        if Path(row.source).stem.split("-")[0] in WEARERS:
            save(crop, "sunglasses")
            continue
        save(crop, "no_sunglasses")
        eyes = {"left_eye": (row.left_eye_x, row.left_eye_y), "right_eye": (row.right_eye_x, row.right_eye_y)}
        for _ in range(2):
            save(render_lenses(crop, [eyes], rng), "sunglasses")
    return counts


def _production_holder(name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    from registry.store import client

    try:
        return str(client().get_model_version_by_alias(name, "production").version)
    except MlflowException:
        return None


def test_crops_train_derive_review_promote_route_serve(idaas_home, photos, tmp_path):
    import mlflow.pyfunc

    from registry.bootstrap import bootstrap
    from registry.catalog import Catalog, load_catalog
    from registry.compare import compare_versions
    from registry.reviews import current_review, set_review
    from registry.stages import promote
    from registry.store import configure
    from serving.client import IdaasClient
    from serving.demo import _measured_face_recall
    from serving.router import build_router
    from serving.server import running_server

    configure()
    base = (lambda r: (r.registered + r.unchanged)[0])(bootstrap(names=["faces-mtcnn"]))

    # 1. crops of every face the registered faces model finds in real photos (and their mirror images)
    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    for name in ("bus.jpg", "zidane.jpg", "grace_hopper.jpg", "astronaut.png"):
        picture = Image.open(photos[name]).convert("RGB")
        stem = Path(name).stem
        picture.save(photos_dir / f"{stem}.png")
        ImageOps.mirror(picture).save(photos_dir / f"{stem}-mirror.png")
    done = _idaas(
        "faces",
        "crops",
        str(photos_dir),
        "-o",
        str(tmp_path / "crops"),
        "--model",
        f"models:/faces-mtcnn/{base.version}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "12 faces from 8 images" in done.stdout
    counts = _labelled_folder(tmp_path / "crops", tmp_path / "labelled")
    assert counts == {"sunglasses": 3 * (4 + 2 * 8), "no_sunglasses": 3 * 8}

    # 2. the pipeline's classifier stages on that folder, tiny settings: a registered candidate
    pipeline = tmp_path / "pipeline"
    pipeline.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["classify"].update(
        source=str(tmp_path / "labelled"),
        train_per_class=None,
        test_per_class=None,
        val_fraction=0.15,
        test_fraction=0.25,
    )
    params["classifier"].update(name=CLASSIFIER, image_size=32, epochs=1, batch_size=16)
    params["registration"]["classifier"].update(question="Does a face wear sunglasses?", thresholds={})
    (pipeline / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + STAGES],
        cwd=pipeline,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    registered = json.loads(done.stdout.strip().splitlines()[-1])
    clf_review = current_review(CLASSIFIER, registered["version"]).review
    assert "top1_accuracy" in clf_review.metrics

    # 3. derive: a faces version carrying the classifier, with a draft review of its figures
    done = _idaas(
        "models",
        "derive",
        "faces-mtcnn",
        "--base",
        base.version,
        "--attribute",
        f"sunglasses=models:/{CLASSIFIER}@candidate",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(r"registered models:/faces-mtcnn/(\d+) \(@candidate\)", done.stdout)
    assert found, done.stdout
    derived = found.group(1)
    draft = current_review("faces-mtcnn", derived).review
    assert draft.decision == "prototype"
    assert draft.metrics["sunglasses_top1_accuracy"] == clf_review.metrics["top1_accuracy"]
    assert draft.evaluation.version == clf_review.evaluation.version  # the attribute data's version

    # 4. a reviewer completes the review; the gate lets it through to production
    completed = draft.model_dump(mode="json")
    completed.update(
        decision="productionise",
        reviewer="loop test",
        business_metric="test only",
        notes="synthetic lenses: exercises the loop, measures nothing about real-world accuracy",
        draft=False,  # a person signs it: the gate refuses a machine's draft
    )
    completed["metrics"]["recall"] = _measured_face_recall("faces-mtcnn", derived)
    set_review("faces-mtcnn", derived, completed)
    promote("faces-mtcnn", derived, "staging", reason="loop test")
    champion = _production_holder("faces-mtcnn")
    if champion is not None:  # the session's registry may already serve a faces version: the gate
        samples = tmp_path / "champion-challenger"  # wants a recorded comparison with it first
        samples.mkdir()
        for name in ("bus.jpg", "zidane.jpg", "grace_hopper.jpg"):
            (samples / name).write_bytes(photos[name].read_bytes())
        compare_versions("faces-mtcnn", champion, derived, samples)
    assert promote("faces-mtcnn", derived, "production", reason="loop test").holder == derived

    # 5. a router over it, served over REST: the learned score answers
    only_faces = Catalog(models=[load_catalog().get("faces-mtcnn")])
    router, plan, _ = build_router(ROUTER, catalog=only_faces)
    assert plan.members["faces"] == ("faces-mtcnn", derived)
    bus = photos["bus.jpg"].read_bytes()
    direct = mlflow.pyfunc.load_model(f"models:/faces-mtcnn/{derived}").predict(
        pd.DataFrame({"id": ["bus"], "image": [bus]})
    )[0]["faces"]["faces"]
    heuristic = mlflow.pyfunc.load_model(f"models:/faces-mtcnn/{base.version}").predict(
        pd.DataFrame({"id": ["bus"], "image": [bus]})
    )[0]["faces"]["faces"]
    with running_server(f"models:/{ROUTER}/{router.version}") as url:
        (answer,) = IdaasClient(url).annotate([bus], ids=["bus"], tasks="faces")
    assert answer.models["faces"] == f"faces-mtcnn/{derived}"
    served = answer.results["faces"].faces
    assert len(served) == 2
    for face, same in zip(served, direct):
        value = face.attributes["sunglasses"]
        assert value == same["attributes"]["sunglasses"]
        assert value is not None or face.abstentions["sunglasses"] == "low_confidence"
    # the learned model answers, not the heuristic (whose scores on these faces are 0.976 and 0.747)
    assert [f.attributes["sunglasses"] for f in served] != [f["attributes"]["sunglasses"] for f in heuristic]
