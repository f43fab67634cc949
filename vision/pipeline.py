"""Many adapters behind one call: decode each image once, run every task asked for, compose
`describe` last, and return one ImageAnswer per image with per-image and per-task errors.

This is the router's engine (serving wraps it in a pyfunc) and the in-process annotator.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from vision.adapters.base import Adapter
from vision.adapters.describe import Describer
from vision.errors import BadRequestError, IdaasError
from vision.image_input import DecodedImage, decode_image
from vision.results import ErrorInfo, ImageAnswer
from vision.settings import Settings, get_settings


@dataclass
class Loaded:
    """An adapter plus the name/version that the answers are stamped with."""

    adapter: Adapter
    ref: str  # e.g. "faces-mtcnn/3"


def parse_tasks(tasks: str | Iterable[str] | None, available: Iterable[str]) -> list[str]:
    """'classify, faces' -> ['classify', 'faces']; refuses unknown tasks with a 400-style error."""
    available = list(available)
    if tasks is None or (isinstance(tasks, str) and not tasks.strip()):
        return available
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t and t.strip()]
    unknown = [t for t in names if t not in available]
    if unknown:
        raise BadRequestError(f"unknown task(s): {', '.join(unknown)}; this endpoint answers: {', '.join(available)}")
    return list(dict.fromkeys(names))


class Pipeline:
    def __init__(self, models: Mapping[str, Loaded], settings: Settings | None = None):
        self.models = dict(models)
        self.settings = settings or get_settings()

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    def min_side(self, tasks: Sequence[str]) -> int | None:
        """The decode size every requested task is happy with (None = full resolution)."""
        needs = [self.models[t].adapter.min_side for t in tasks]
        return None if any(n is None for n in needs) else max(needs, default=None)

    def decode(self, source: Any, tasks: Sequence[str], allow_path: bool = False) -> DecodedImage:
        return decode_image(source, min_side=self.min_side(tasks), allow_path=allow_path, settings=self.settings)

    def validate_params(self, tasks: Sequence[str], params: Mapping[str, Any]) -> None:
        """Check every parameter once, before any image is touched (a bad one is a 400)."""
        for task in tasks:
            self.models[task].adapter.resolve_params(dict(params))

    def plan(self, count: int, tasks: str | Sequence[str] | None = None,
             row_tasks: Sequence[str | None] | None = None, params: Mapping[str, Any] | None = None
             ) -> list[list[str]]:
        """Each row's task list (a row's own ``tasks`` overrides the request's), with params checked."""
        default_tasks = parse_tasks(tasks, self.tasks)
        per_row = [parse_tasks(rt, self.tasks) if rt else default_tasks for rt in (row_tasks or [None] * count)]
        self.validate_params(sorted({t for ts in per_row for t in ts}), dict(params or {}))
        return per_row

    def annotate(self, sources: Sequence[Any], *, ids: Sequence[Any] | None = None,
                 tasks: str | Sequence[str] | None = None, row_tasks: Sequence[str | None] | None = None,
                 params: Mapping[str, Any] | None = None, allow_path: bool = False) -> list[ImageAnswer]:
        """Decode and answer every image; a bad image fails its own row only."""
        per_row = self.plan(len(sources), tasks, row_tasks, params)
        decoded: list[DecodedImage | IdaasError] = []
        for source, row in zip(sources, per_row):
            try:
                decoded.append(self.decode(source, row, allow_path))
            except IdaasError as exc:
                decoded.append(exc)
        return self.annotate_decoded(decoded, per_row, ids=ids, params=params)

    def annotate_decoded(self, images: Sequence[DecodedImage | IdaasError], per_row: Sequence[Sequence[str]], *,
                         ids: Sequence[Any] | None = None, params: Mapping[str, Any] | None = None
                         ) -> list[ImageAnswer]:
        """Answer images decoded beforehand (batch scoring decodes in parallel threads)."""
        params = dict(params or {})
        answers = [ImageAnswer(id=None if ids is None else _id(ids[i])) for i in range(len(images))]
        decoded: dict[int, DecodedImage] = {}
        for i, image in enumerate(images):
            if isinstance(image, IdaasError):
                answers[i].error = ErrorInfo(**image.to_dict())
                continue
            decoded[i] = image
            answers[i].width, answers[i].height = image.width, image.height
        jobs = {}
        for task in self.tasks:
            rows = [i for i in decoded if task in per_row[i]]
            if task != "describe" and rows:
                jobs[task] = rows
        # Different models run side by side (each adapter's own lock keeps one model serial):
        # MTCNN's many small ops and OCR's ONNX sessions leave cores idle when run one by one.
        threads = min(len(jobs), self.settings.task_threads)
        if threads > 1:
            with ThreadPoolExecutor(threads, thread_name_prefix="idaas-task") as pool:
                futures = {task: pool.submit(self.models[task].adapter.predict, [decoded[i] for i in rows], params)
                           for task, rows in jobs.items()}
                outcomes = {task: future.result() for task, future in futures.items()}
        else:
            outcomes = {task: self.models[task].adapter.predict([decoded[i] for i in rows], params)
                        for task, rows in jobs.items()}
        for task, rows in jobs.items():
            for i, result in zip(rows, outcomes[task]):
                answers[i].models[task] = self.models[task].ref
                if isinstance(result, IdaasError):
                    answers[i].task_errors[task] = ErrorInfo(**result.to_dict())
                else:
                    answers[i].results[task] = result
        if "describe" in self.models:
            describer = self.models["describe"]
            for i in decoded:
                if "describe" in per_row[i]:
                    answers[i].models["describe"] = describer.ref
                    answers[i].results["describe"] = _describe(describer.adapter, answers[i], decoded[i], params)
        for answer in answers:  # stable key order on the wire: the pipeline's task order
            answer.results = {t: answer.results[t] for t in self.tasks if t in answer.results}
            answer.models = {t: answer.models[t] for t in self.tasks if t in answer.models}
        return answers


def _describe(adapter: Adapter, answer: ImageAnswer, decoded: DecodedImage, params: dict[str, Any]):
    if isinstance(adapter, Describer):
        if answer.results:
            return adapter.describe(answer.results, params)
        return adapter.predict([decoded], params)[0]
    return adapter.predict([decoded], params)[0]


def _id(value: Any) -> str | None:
    if value is None:
        return None
    try:
        import math

        if isinstance(value, float) and math.isnan(value):
            return None
    except TypeError:
        pass
    return str(value)
