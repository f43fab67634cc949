"""Champion/challenger comparison of two versions of one model on a fixed sample of images.

Both versions answer every image; per task we report how often they agree (same top label,
same objects, same number of faces, same text ...), how far their scores moved, and which
images differ. The result is recorded on the challenger (a version tag, plus the full report
as an artifact of its run), where the production gate looks for it.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from registry import store
from registry.lookup import get_version
from vision.errors import IdaasError
from vision.results import RESULT_TYPES

COMPARISON_PREFIX = "idaas.compare.v"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".avif")
_TAG_DIFFERING_LIMIT = 20  # the tag keeps the first few; the run artifact keeps them all
_EMBED_AGREE = 0.99  # cosine similarity at which two embeddings count as the same


class TaskComparison(BaseModel):
    task: str
    compared: int
    agreement: float
    mean_score_shift: float | None = None  # challenger - champion, averaged
    mean_abs_score_shift: float | None = None


class ImageDifference(BaseModel):
    image: str
    tasks: dict[str, dict[str, str]]  # task -> {"champion": summary, "challenger": summary}


class Comparison(BaseModel):
    name: str
    champion: str
    challenger: str
    images: str
    n_images: int
    sample_sha256: str
    tasks: list[TaskComparison]
    differing_count: int
    differing: list[ImageDifference]
    recorded_by: str = ""
    recorded_at: str = ""

    def lines(self) -> list[str]:
        out = [
            f"{self.name}: champion v{self.champion} vs challenger v{self.challenger} on {self.n_images} images "
            f"from {self.images}"
        ]
        for t in self.tasks:
            shift = (
                ""
                if t.mean_score_shift is None
                else f", score shift {t.mean_score_shift:+.4f} (mean |shift| {t.mean_abs_score_shift:.4f})"
            )
            out.append(f"  {t.task:<11} agreement {t.agreement:.1%} on {t.compared} images{shift}")
        out.append(f"  differing images: {self.differing_count}")
        for diff in self.differing[:10]:
            for task, pair in diff.tasks.items():
                out.append(f"    {diff.image} [{task}] {pair['champion']!r} -> {pair['challenger']!r}")
        return out


def sample_images(folder: Path, limit: int | None = None) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise IdaasError(f"--images must be a folder of images; {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if limit is not None:
        files = files[:limit]
    if not files:
        raise IdaasError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _summary(task: str, value: Any) -> tuple[str, float | None, list[float] | None]:
    """(comparable key, representative score, vector) of one task's wire answer."""
    if isinstance(value, dict) and set(value) == {"error"}:
        return f"error:{value['error'].get('code')}", None, None
    if task in RESULT_TYPES:
        return RESULT_TYPES[task].model_validate(value).comparison_key()  # each answer knows its key
    return json.dumps(value, sort_keys=True), None, None


def _cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def compare_answers(
    name: str, champion: str, challenger: str, images: list[Path], rows_a: list[dict], rows_b: list[dict], source: str
) -> Comparison:
    """Compare two versions' wire rows for the same images (in the same order)."""
    digest = hashlib.sha256()
    for path in images:
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    tasks = [t for t in rows_a[0] if t not in ("id", "width", "height", "models", "error")] if rows_a else []
    tasks = [t for t in tasks if all(t in r for r in rows_b)]
    per_task: list[TaskComparison] = []
    differing: dict[str, dict[str, dict[str, str]]] = {}
    for task in tasks:
        agree, shifts, compared = 0, [], 0
        for path, a, b in zip(images, rows_a, rows_b):
            if task not in a or task not in b:
                continue
            compared += 1
            key_a, score_a, vec_a = _summary(task, a[task])
            key_b, score_b, vec_b = _summary(task, b[task])
            if vec_a is not None and vec_b is not None:
                cos = _cosine(vec_a, vec_b)
                same = cos >= _EMBED_AGREE
                key_a, key_b = "reference", f"cosine {cos:.4f}"
            else:
                same = key_a == key_b
            if same:
                agree += 1
            else:
                differing.setdefault(path.name, {})[task] = {"champion": key_a, "challenger": key_b}
            if score_a is not None and score_b is not None:
                shifts.append(score_b - score_a)
        per_task.append(
            TaskComparison(
                task=task,
                compared=compared,
                agreement=round(agree / compared, 4) if compared else 0.0,
                mean_score_shift=round(sum(shifts) / len(shifts), 4) if shifts else None,
                mean_abs_score_shift=round(sum(abs(s) for s in shifts) / len(shifts), 4) if shifts else None,
            )
        )
    for path, a, b in zip(images, rows_a, rows_b):  # an image that fails for one version only
        if (a.get("error") is None) != (b.get("error") is None):
            differing.setdefault(path.name, {})["image"] = {
                "champion": (a.get("error") or {}).get("code", "ok"),
                "challenger": (b.get("error") or {}).get("code", "ok"),
            }
    diffs = [ImageDifference(image=image, tasks=t) for image, t in differing.items()]
    return Comparison(
        name=name,
        champion=str(champion),
        challenger=str(challenger),
        images=source,
        n_images=len(images),
        sample_sha256=digest.hexdigest(),
        tasks=per_task,
        differing_count=len(diffs),
        differing=diffs,
    )


def _answer(pipeline, images: list[Path], chunk: int = 16) -> list[dict]:
    rows: list[dict] = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        answers = pipeline.annotate([p.read_bytes() for p in part], ids=[p.name for p in part])
        rows.extend(a.to_wire() for a in answers)
    return rows


def compare_versions(
    name: str,
    champion: str | int,
    challenger: str | int,
    images_dir: Path,
    *,
    limit: int | None = None,
    record: bool = True,
) -> Comparison:
    """Run both versions on the images, compare, and record the result on the challenger."""
    from registry.bundle import load_pipeline
    from registry.versions import download_bundle

    client = store.client()
    mv_a = get_version(client, name, champion)
    mv_b = get_version(client, name, challenger)
    if mv_a.version == mv_b.version:
        raise IdaasError(f"compare two different versions of {name}, not version {mv_a.version} with itself")
    images = sample_images(images_dir, limit)
    with tempfile.TemporaryDirectory(prefix="idaas-compare-") as tmp:
        rows = []
        for mv in (mv_a, mv_b):
            pipeline = load_pipeline(download_bundle(name, mv.version, Path(tmp) / f"v{mv.version}"))
            rows.append(_answer(pipeline, images))
            del pipeline
    result = compare_answers(name, mv_a.version, mv_b.version, images, rows[0], rows[1], str(Path(images_dir)))
    result = result.model_copy(
        update={"recorded_by": store.current_user(), "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    )
    if record:
        _record(client, result, mv_b)
    return result


def _record(client, result: Comparison, challenger) -> None:
    summary = result.model_copy(update={"differing": result.differing[:_TAG_DIFFERING_LIMIT]})
    client.set_model_version_tag(
        result.name, result.challenger, f"{COMPARISON_PREFIX}{result.champion}", summary.model_dump_json()
    )
    if challenger.run_id:
        client.log_dict(
            challenger.run_id,
            result.model_dump(mode="json"),
            f"comparisons/v{result.champion}-vs-v{result.challenger}.json",
        )


def recorded_comparison(challenger_version, champion: str | int) -> Comparison | None:
    """The comparison recorded on a version (a ModelVersion) against ``champion``, if any."""
    raw = (challenger_version.tags or {}).get(f"{COMPARISON_PREFIX}{champion}")
    if not raw:
        return None
    try:
        return Comparison.model_validate_json(raw)
    except ValueError:
        return None
