"""Screenshots of the story in MLflow's UI (docs/screenshots/*.png): a model page, a version page
and a router page, from `idaas ui` on a small demo registry made here (model-free models, so it
takes a minute), taken with headless Chromium (Debian: `apt-get install -y chromium`).

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
REVIEW = {
    "question": "Which photos are too dark to show on a profile?",
    "business_metric": "photos hidden for quality per day",
    "expected_impact": {"low": 1.0, "high": 3.0, "unit": "% fewer quality complaints"},
    "evaluation": {"dataset": "profile-photos-sample", "version": "dvc:3f2a9c1", "size": 200},
    "metrics": {"top1_accuracy": 0.8},
    "risks": [
        {
            "area": "fairness",
            "description": "darker skin tones read as dark photos",
            "mitigation": "threshold reviewed per skin-tone bucket",
        }
    ],
    "decision": "productionise",
    "reviewer": "Ada Reviewer",
    "date": "2026-01-15",
}


def demo_registry(folder: Path) -> dict[str, str]:
    """photo-quality v1 -> production, v2 -> production, rolled back; v3 with a draft review;
    a router over the candidates, in staging."""
    import yaml

    catalog = folder / "catalog.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": "photo-quality",
                        "task": "properties",
                        "family": "properties",
                        "thresholds": {"top1_accuracy": 0.7},
                    },
                    {"name": "photo-describe", "task": "describe", "family": "describe"},
                ]
            }
        )
    )
    os.environ.update(
        {
            "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
            "IDAAS_CATALOG": str(catalog),
            "IDAAS_HOME": str(folder / "home"),
            "IDAAS_USER": "dana",
        }
    )
    from registry.compare import compare_versions
    from registry.reviews import set_review
    from registry.stages import promote, rollback
    from registry.versions import register_spec
    from serving.router import build_router
    from vision.samples import sample_photos
    from vision.spec import ModelSpec

    def props(**options):
        return register_spec(
            ModelSpec(
                name="photo-quality",
                task="properties",
                family="properties",
                description="Brightness, contrast and sharpness of a profile photo.",
                options=options,
            )
        ).version

    v1, v2 = props(), props(colours=3)
    describe = register_spec(ModelSpec(name="photo-describe", task="describe", family="describe")).version
    for name, version in (("photo-quality", v1), ("photo-quality", v2), ("photo-describe", describe)):
        set_review(name, version, REVIEW)
    promote("photo-quality", v1, "production", reason="first launch after the A/B test")
    compare_versions("photo-quality", v1, v2, next(iter(sample_photos().values())).parent, limit=2)
    promote("photo-quality", v2, "production", reason="five dominant colours instead of three")
    rollback("photo-quality", reason="v2 doubled p95 latency on the batch job")
    router, _, _ = build_router("idaas-demo-router", alias="candidate")
    set_review("idaas-demo-router", router.version, REVIEW)
    promote("idaas-demo-router", router.version, "staging", reason="try the new members together")
    v3 = props(colours=4)
    set_review("photo-quality", v3, {**REVIEW, "decision": "prototype", "reviewer": "training pipeline", "draft": True})
    return {
        "model": "#/models/photo-quality",
        "version": f"#/models/photo-quality/versions/{v2}",
        "router": f"#/models/idaas-demo-router/versions/{router.version}",
    }


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH: `apt-get install -y chromium` (Debian)")
    with tempfile.TemporaryDirectory(prefix="idaas-shots-") as tmp:
        pages = demo_registry(Path(tmp))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = (Path(tmp) / "ui.log").open("w")
        ui = subprocess.Popen(
            [sys.executable, "-m", "idaas", "ui", "--port", str(port)],
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.time() + 180
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                    break
                except OSError:
                    if ui.poll() is not None or time.time() > deadline:
                        sys.exit("idaas ui did not start:\n" + (Path(tmp) / "ui.log").read_text()[-2000:])
                    time.sleep(1)
            OUT.mkdir(parents=True, exist_ok=True)
            for label, fragment in pages.items():
                png = OUT / f"{label}-page.png"
                # the UI is a JS app: give it virtual time to fetch and render before the shot
                subprocess.run(
                    [
                        chromium,
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--hide-scrollbars",
                        f"--user-data-dir={tmp}/chromium",
                        "--window-size=1400,1000",
                        "--virtual-time-budget=15000",
                        f"--screenshot={png}",
                        f"http://127.0.0.1:{port}/{fragment}",
                    ],
                    check=True,
                    capture_output=True,
                    timeout=180,
                )
                print(f"wrote {png.relative_to(REPO)}")
        finally:
            os.killpg(ui.pid, signal.SIGTERM)
            ui.wait(timeout=30)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
