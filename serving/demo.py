"""`make demo`, end to end on the embedded defaults: register the offline models, review and
promote them (reviews marked as demo data), build and promote the router, serve it, send real
photos through REST, print what is in them, draw them, stop the server. Rerunning reuses
every version that already exists."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from registry.bootstrap import bootstrap
from registry.catalog import load_catalog
from registry.lookup import aliases, get_model
from registry.reviews import current_review, set_review
from registry.stages import promote
from registry.store import client, configure, redact
from serving.router import ROUTER_NAME, build_router
from vision.samples import sample_photo, sample_photos
from vision.settings import get_settings

DEMO_PHOTOS = ("bus.jpg", "zidane.jpg", "grace_hopper.jpg", "page.png")
# Faces visible frontally in the bundled photos (counted by eye): the demo's recall check.
KNOWN_FACES = {"bus.jpg": 2, "zidane.jpg": 2, "grace_hopper.jpg": 1, "astronaut.png": 1}


def _published_top1(arch: str) -> float:
    import torchvision

    meta = torchvision.models.get_model_weights(arch).DEFAULT.meta
    return round(meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100, 4)


def _measured_face_recall(name: str, version: str) -> float:
    """Recall of the registered faces model on the frontal faces of the bundled photos."""
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    photos = {n: sample_photo(n).read_bytes() for n in KNOWN_FACES}
    rows = model.predict(pd.DataFrame({"id": list(photos), "image": list(photos.values())}))
    found = sum(min(len(row["faces"]["faces"]), KNOWN_FACES[row["id"]]) for row in rows)
    return round(found / sum(KNOWN_FACES.values()), 4)


def demo_review(name: str, version: str, task: str, options: dict) -> dict:
    """An impact review for the demo, with real figures where the demo can have them."""
    metrics: dict[str, float] = {}
    evaluation = {
        "dataset": "bundled sample photos (ultralytics, matplotlib, scikit-image)",
        "version": "packages in requirements.lock",
        "size": len(sample_photos()),
    }
    if task == "classify":
        metrics["top1_accuracy"] = _published_top1(options.get("arch", "mobilenet_v2"))
        evaluation = {
            "dataset": "ImageNet-1k validation (figure published with the torchvision weights)",
            "version": "IMAGENET1K_V1",
            "size": 50000,
        }
    elif task == "faces":
        metrics["recall"] = _measured_face_recall(name, version)
        evaluation["size"] = len(KNOWN_FACES)
        if (options.get("attributes") or {}).get("method"):
            # The sunglasses figures are measured on this very version (serving/attribute_eval.py).
            from serving.attribute_eval import review_metrics, sunglasses_evaluation

            sunglasses = sunglasses_evaluation(name, version)
            metrics.update(review_metrics(sunglasses))
            evaluation["dataset"] += f"; sunglasses: {sunglasses['set']}"
            evaluation["size"] += sunglasses["images"]
    return {
        "question": "DEMO DATA: what is in the photos users upload?",
        "business_metric": "demo only: photos whose content is understood",
        "expected_impact": {"low": 0, "high": 0, "unit": "demo: no business impact claimed"},
        "evaluation": evaluation,
        "metrics": metrics,
        "risks": [{"area": "privacy", "description": "faces are processed", "mitigation": "in-house only"}],
        "decision": "productionise",
        "reviewer": "idaas demo",
        "date": dt.date.today().isoformat(),
        "notes": "DEMO DATA: written by `make demo` to walk the promotion path, not a real review.",
    }


def _to_production(
    name: str, version: str, task: str, options: dict, say: Callable[[str], None], compare_with: str | None = None
) -> None:
    holders = aliases(get_model(client(), name))
    if holders.get("production") == version:
        say(f"  {name}/{version} is already @production")
        return
    if current_review(name, version) is None:
        set_review(name, version, demo_review(name, version, task, options))
    promote(name, version, "staging", reason="demo")
    if holders.get("production") and compare_with is not None:
        from registry.compare import compare_versions

        compare_versions(name, holders["production"], version, Path(compare_with))
    promote(name, version, "production", reason="demo")
    say(f"  {name}/{version} -> @production")


def prepare_router(say: Callable[[str], None] = print) -> str:
    """Steps 1-3 of the demo: offline models registered, reviewed and @production, and a router
    version over them @production. Returns the router version; reuses whatever exists."""
    uri = configure()
    say(f"registry: {redact(uri)}")  # a team URI may carry a password
    say("1. registering the offline models")
    report = bootstrap()
    for line in report.lines():
        say(f"  {line}")
    say("2. reviewing and promoting them (demo reviews)")
    catalog = load_catalog()
    for logged in report.registered + report.unchanged:
        entry = catalog.get(logged.name)
        _to_production(logged.name, logged.version, entry.task, entry.options, say)
    say("3. building the router from the @production versions")
    version, plan, reused = build_router()
    for task, (name, v) in plan.members.items():
        say(f"  {task:<10} {name}/{v}")
    say(f"  router {ROUTER_NAME}/{version.version} ({'reused' if reused else 'new'})")
    with tempfile.TemporaryDirectory(prefix="idaas-demo-sample-") as sample:
        for name in DEMO_PHOTOS:
            shutil.copy(sample_photo(name), Path(sample) / name)
        _to_production(ROUTER_NAME, str(version.version), "router", {}, say, compare_with=sample)
    return str(version.version)


def run_demo(say: Callable[[str], None] = print, out_dir: Path | None = None) -> int:
    """The whole path; returns the number of photos that came back with an error."""
    from serving.client import IdaasClient
    from serving.server import running_server
    from vision.draw import save_drawing
    from vision.image_input import decode_image
    from vision.summary import summarise

    prepare_router(say)
    out_dir = Path(out_dir or get_settings().home / "demo")
    say(f"4. serving models:/{ROUTER_NAME}@production and sending {len(DEMO_PHOTOS)} photos through REST")
    failures = 0
    with running_server(f"models:/{ROUTER_NAME}@production") as url:
        say(f"  server ready at {url}")
        photos = [sample_photo(n) for n in DEMO_PHOTOS]
        answers = IdaasClient(url).annotate([p.read_bytes() for p in photos], ids=list(DEMO_PHOTOS))
    say("  server stopped")
    say("5. what is in the photos")
    for photo, answer in zip(photos, answers):
        say(summarise(answer))
        if answer.error is not None:
            failures += 1
            continue
        drawn = save_drawing(decode_image(photo.read_bytes()).image, answer, out_dir / f"{photo.stem}.annotated.png")
        say(f"  drawn:      {drawn}")
    return failures
