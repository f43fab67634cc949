"""`idaas faces crops` from an `idaas score` Parquet: the stored answers are reused, every face
becomes a padded crop, and the manifest carries box, landmarks, scores and abstention codes."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
from PIL import Image


def _idaas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idaas", *args], capture_output=True, text=True, timeout=900)


def test_crops_from_a_scores_parquet(idaas_home, photos, tmp_path):
    from registry.bootstrap import bootstrap
    from registry.store import configure

    configure()
    report = bootstrap(names=["faces-mtcnn"])
    version = (report.registered + report.unchanged)[0].version
    folder = tmp_path / "photos"
    folder.mkdir()
    bus = Image.open(photos["bus.jpg"]).convert("RGB")
    bus.save(folder / "bus.png")
    bus.convert("L").convert("RGB").save(folder / "bus_bw.png")
    Image.open(photos["coffee.png"]).convert("RGB").save(folder / "coffee.png")
    scores = tmp_path / "scores.parquet"
    done = _idaas("score", str(folder), "-o", str(scores), "--model", f"models:/faces-mtcnn/{version}", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]

    # --model names a version that does not exist: the Parquet's answers must be what is used
    done = _idaas("faces", "crops", str(scores), "-o", str(tmp_path / "crops"), "--model", "models:/nothing/9")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 faces from 3 images" in done.stdout
    manifest = pd.read_csv(tmp_path / "crops" / "manifest.csv")
    assert sorted(manifest["source"].map(lambda p: p.rsplit("/", 1)[-1]).unique()) == ["bus.png", "bus_bw.png"]
    colour = manifest[manifest["source"].str.endswith("/bus.png")]
    grey = manifest[manifest["source"].str.endswith("/bus_bw.png")]
    assert (colour["sunglasses"] >= 0.5).all() and colour["sunglasses_abstention"].isna().all()
    assert grey["sunglasses"].isna().all() and (grey["sunglasses_abstention"] == "grayscale").all()
    for row in manifest.itertuples():
        crop = Image.open(tmp_path / "crops" / row.crop)
        # a padded square around the face, and the eyes where the manifest says, inside the crop
        assert crop.width == crop.height > (row.x2 - row.x1) * 1.3
        assert 0 < row.left_eye_x < row.right_eye_x < crop.width and 0 < row.left_eye_y < crop.height
