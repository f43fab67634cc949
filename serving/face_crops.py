"""Every detected face as a padded crop, with a manifest: the start of a labelled attribute set.

Sort the crops of ``unsorted/`` into one folder per class (``sunglasses/``, ``no_sunglasses/``)
and the training pipeline trains on that folder (training/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vision.adapters.faces_mtcnn import DEFAULT_CROP_PAD, face_crop_box
from vision.errors import IdaasError
from vision.image_input import decode_image

MANIFEST = "manifest.csv"
UNSORTED = "unsorted"


def export_crops(scored: pd.DataFrame, out_dir: Path, *, pad: float = DEFAULT_CROP_PAD) -> pd.DataFrame:
    """Write ``out_dir/unsorted/<n>.png`` for every face of ``scored`` (rows with ``path`` and a
    ``faces`` answer) and ``out_dir/manifest.csv``: crop, source path, face index, box, detector
    score, landmarks in crop pixels (``left_eye_x`` ...), each attribute's current score and
    abstention code."""
    if "faces" not in scored.columns or "path" not in scored.columns:
        raise IdaasError("the scores need a 'path' column and a 'faces' answer (score with the faces task)")
    folder = Path(out_dir) / UNSORTED
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for record in scored.to_dict("records"):
        answer = record.get("faces")
        if not isinstance(answer, dict) or "error" in answer or not answer.get("faces"):
            continue
        picture = decode_image(Path(str(record["path"])), allow_path=True).image
        for index, face in enumerate(answer["faces"]):
            name = f"{len(rows):06d}.png"
            left, top, right, bottom = face_crop_box(face["box"], picture.width, picture.height, pad)
            picture.crop((left, top, right, bottom)).save(folder / name)
            reasons = face.get("abstentions") or {}
            # Landmarks in the crop's own pixels: where an annotator (or a renderer) finds the eyes.
            landmarks = {
                f"{point}_{axis}": round(xy[i] - (left, top)[i], 1)
                for point, xy in (face.get("landmarks") or {}).items()
                for i, axis in enumerate("xy")
            }
            rows.append(
                {
                    "crop": f"{UNSORTED}/{name}",
                    "source": str(record["path"]),
                    "face": index,
                    **dict(zip(("x1", "y1", "x2", "y2"), face["box"])),
                    "score": face["score"],
                    **landmarks,
                    **(face.get("attributes") or {}),
                    **{f"{k}_abstention": reasons.get(k) for k in face.get("attributes") or {}},
                }
            )
    manifest = pd.DataFrame(rows, columns=None if rows else ["crop", "source", "face", "x1", "y1", "x2", "y2", "score"])
    manifest.to_csv(Path(out_dir) / MANIFEST, index=False)
    return manifest
