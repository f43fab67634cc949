"""Scoring images from a notebook, and turning the answers into tidy tables.

    from serving import notebook_api as idaas

    scored = idaas.score("photos/", tasks="classify,faces")          # a folder, glob or manifest,
    scored = idaas.score(["a.jpg", "b.jpg"], model_uri="models:/faces-mtcnn/2")  # a list of paths,
    scored = idaas.score(df)            # or a DataFrame with a `path` or `image` (bytes) column
    idaas.faces(scored)                 # one row per face (box, score, one column per attribute)
    idaas.labels(scored)                # one row per label (classify; task="zeroshot" too)
    idaas.objects(scored)               # one row per detected object
    idaas.ocr_lines(scored)             # one row per line of text
    idaas.read_scores("out.parquet")    # an `idaas score` output, in the same shape as score()
    idaas.per_user(scored, users=manifest)  # one verdict per user: yes / no / unknown (abstentions)
    idaas.annotated(scored.iloc[0])     # the photo with its answer drawn on it (a PIL image)

``score`` returns one row per image: id, path (when paths were given), width, height,
error_code, error_message, one column per task holding its answer as a dict (the REST
answer under that task's key), models (task -> "name/version"), and any other columns of
the input DataFrame or manifest, carried through.

It goes through ``mlflow.pyfunc.load_model(model_uri).predict`` — the same model version
gives the same answers here, over REST, in `idaas score` and in Spark.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from serving.batch.core import DEFAULT_MODEL_URI, read_bytes, request_params
from serving.batch.records import BASE_COLUMNS, task_columns, to_record, to_wire
from vision.errors import IdaasError
from vision.results import TASKS

_IMAGE_COLUMNS = ("path", "image")


@lru_cache(maxsize=4)
def load(model_uri: str = DEFAULT_MODEL_URI):
    """The pyfunc model behind ``model_uri`` (cached: a notebook loads each version once)."""
    import mlflow.pyfunc

    from registry.store import configure

    configure()
    return mlflow.pyfunc.load_model(model_uri)


def _as_frame(images: Any) -> pd.DataFrame:
    if isinstance(images, pd.DataFrame):
        frame = images.reset_index(drop=True)
        if not any(c in frame.columns for c in _IMAGE_COLUMNS):
            raise IdaasError("the DataFrame needs a 'path' column (file paths) or an 'image' column (bytes)")
        return frame
    if isinstance(images, (str, Path)):
        from serving.batch.sources import discover

        inputs = discover(images)
        frame = pd.DataFrame({"id": [i.id for i in inputs.items], "path": [i.source for i in inputs.items]})
        if inputs.metadata is not None:
            frame = pd.concat([frame, inputs.metadata.reset_index(drop=True)], axis=1)
        return frame
    items = list(images)
    if all(isinstance(i, (bytes, bytearray, memoryview)) for i in items):
        return pd.DataFrame({"image": [bytes(i) for i in items]})
    return pd.DataFrame({"path": [str(i) for i in items]})


def score(
    images: Any,
    model_uri: str = DEFAULT_MODEL_URI,
    *,
    tasks: str | Sequence[str] | None = None,
    batch_size: int = 16,
    **params: Any,
) -> pd.DataFrame:
    """Answer every image; see the module docstring for what ``images`` can be and what comes back.

    ``params`` are task parameters (``top_k=3``, ``min_score=0.5`` ...). A bad image fails its
    own row (error_code, error_message); a bad request (unknown task, bad parameter) raises.
    """
    frame = _as_frame(images)
    model = load(model_uri)
    sent_params = request_params(params, tasks, "records")
    has_path = "path" in frame.columns
    ids = (
        [str(v) for v in frame["id"]]
        if "id" in frame.columns
        else ([str(p) for p in frame["path"]] if has_path else [str(i) for i in range(len(frame))])
    )
    wire: list[dict[str, Any]] = []
    from vision.settings import get_settings

    settings = get_settings()
    step = max(1, min(batch_size, settings.max_images_per_request))  # the model refuses larger requests
    for start in range(0, len(frame), step):
        part = range(start, min(start + step, len(frame)))
        sources = (
            [read_bytes(frame["path"].iat[i], settings.max_image_bytes) for i in part]
            if has_path
            else [frame["image"].iat[i] for i in part]
        )
        send = [i for i, s in zip(part, sources) if not isinstance(s, IdaasError)]
        answers: dict[int, dict[str, Any]] = {}
        if send:
            request = pd.DataFrame({"id": [ids[i] for i in send], "image": [sources[i - start] for i in send]})
            for i, row in zip(send, model.predict(request, params=sent_params)):
                answers[i] = row
        for i, source in zip(part, sources):
            if isinstance(source, IdaasError):  # unreadable file: its row says why, as the scorer's does
                answers[i] = {"id": ids[i], "width": None, "height": None, "models": {}, "error": source.to_dict()}
            wire.append(answers[i])
    asked = [t for t in TASKS if any(t in row for row in wire)]
    records = [
        to_record(row, asked, path=str(frame["path"].iat[i]) if has_path else None) for i, row in enumerate(wire)
    ]
    out = _parse(pd.DataFrame(records, columns=[*BASE_COLUMNS, *asked, "models"]))
    if not has_path:
        out = out.drop(columns=["path"])
    carried = frame.drop(columns=[c for c in ("id", "path", "image") if c in frame.columns])
    return pd.concat([out, carried], axis=1)


def _parse(frame: pd.DataFrame) -> pd.DataFrame:
    """JSON text columns (tasks, models) -> dicts."""
    frame = frame.copy()
    for column in [*task_columns(frame.columns), "models"]:
        if column in frame.columns:
            frame[column] = [json.loads(v) if isinstance(v, str) else None for v in frame[column]]
    for column in ("width", "height"):
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    return frame


def read_scores(path: str | Path) -> pd.DataFrame:
    """An `idaas score` Parquet file with its JSON columns parsed, in the shape score() returns."""
    return _parse(pd.read_parquet(path))


def wire_rows(scored: pd.DataFrame) -> list[dict[str, Any]]:
    """The REST rows (docs/wire-contract.md) that a scored frame holds, e.g. to compare two runs."""
    return [to_wire(record) for record in scored.to_dict("records")]


def _answers(scored: pd.DataFrame, task: str, keep: Iterable[str]) -> Iterable[tuple[dict, dict]]:
    keep = list(keep)
    if task not in scored.columns:
        return
    for record in scored.to_dict("records"):
        answer = record.get(task)
        if isinstance(answer, dict) and "error" not in answer:
            yield {k: record.get(k) for k in keep}, answer


def _box(box: Sequence[float]) -> dict[str, float]:
    return dict(zip(("x1", "y1", "x2", "y2"), box))


def faces(scored: pd.DataFrame, keep: Iterable[str] = ("id",)) -> pd.DataFrame:
    """One row per face: ``keep`` columns, face (0, 1 ...), x1, y1, x2, y2, score, one column per
    attribute (NaN where the scorer abstained) and ``<attribute>_abstention`` (its reason code)."""
    rows = []
    for kept, answer in _answers(scored, "faces", keep):
        for n, face in enumerate(answer.get("faces", [])):
            reasons = face.get("abstentions") or {}
            attrs = face.get("attributes") or {}
            rows.append(
                {
                    **kept,
                    "face": n,
                    **_box(face["box"]),
                    "score": face["score"],
                    **{k: (float("nan") if v is None else v) for k, v in attrs.items()},
                    **{f"{k}_abstention": reasons.get(k) for k in attrs},
                }
            )
    return pd.DataFrame(rows, columns=None if rows else [*keep, "face", "x1", "y1", "x2", "y2", "score"])


def per_user(scored: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """One row per user with a yes / no / unknown verdict (serving/analysis/per_user.py; same as
    `idaas analyse per-user`)."""
    from serving.analysis.per_user import per_user as _per_user

    return _per_user(scored, **options)


def labels(scored: pd.DataFrame, task: str = "classify", keep: Iterable[str] = ("id",)) -> pd.DataFrame:
    """One row per label of ``task`` (classify or zeroshot): ``keep`` columns, rank (1 = top), label, score."""
    rows = [
        {**kept, "rank": rank, "label": item["label"], "score": item["score"]}
        for kept, answer in _answers(scored, task, keep)
        for rank, item in enumerate(answer.get("labels", []), start=1)
    ]
    return pd.DataFrame(rows, columns=[*keep, "rank", "label", "score"])


def objects(scored: pd.DataFrame, keep: Iterable[str] = ("id",)) -> pd.DataFrame:
    """One row per detected object: ``keep`` columns, label, score, x1, y1, x2, y2."""
    rows = [
        {**kept, "label": obj["label"], "score": obj["score"], **_box(obj["box"])}
        for kept, answer in _answers(scored, "detect", keep)
        for obj in answer.get("objects", [])
    ]
    return pd.DataFrame(rows, columns=[*keep, "label", "score", "x1", "y1", "x2", "y2"])


def ocr_lines(scored: pd.DataFrame, keep: Iterable[str] = ("id",)) -> pd.DataFrame:
    """One row per line of text: ``keep`` columns, line (0, 1 ...), text, score, x1, y1, x2, y2."""
    rows = [
        {**kept, "line": n, "text": line["text"], "score": line["score"], **_box(line["box"])}
        for kept, answer in _answers(scored, "ocr", keep)
        for n, line in enumerate(answer.get("lines", []))
    ]
    return pd.DataFrame(rows, columns=[*keep, "line", "text", "score", "x1", "y1", "x2", "y2"])


def annotated(row: pd.Series | dict, image: bytes | str | Path | None = None):
    """The photo of one scored row (its ``path``, or ``image``) with the answer drawn on it."""
    from vision.draw import draw
    from vision.image_input import decode_image
    from vision.results import ImageAnswer

    record = dict(row)
    source = image if image is not None else record.get("path")
    if source is None:
        raise IdaasError("this row has no path; pass the image's bytes as image=")
    picture = decode_image(Path(source) if isinstance(source, str) else source, allow_path=True).image
    return draw(picture, ImageAnswer.from_wire(to_wire(record)))
