"""Many adapters behind one call: decode each image once, hand it to the engine for every
task asked for, compose `describe` last, and return one ImageAnswer per image with per-image
and per-task errors.

This is the router's core (serving wraps it in a pyfunc), batch scoring's and the in-process
annotator's. The models themselves run on the engine's workers (vision/engine), never on the
caller's thread.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vision.adapters.base import Adapter
from vision.adapters.describe import Describer
from vision.engine.decoding import decode_pool
from vision.engine.engine import LazyEngine
from vision.errors import BadRequestError, ErrorCode, IdaasError
from vision.image_input import DecodedImage, decode_image
from vision.results import ErrorInfo, ImageAnswer
from vision.settings import Settings, get_settings

log = logging.getLogger(__name__)


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
        self._engine = LazyEngine()

    @property
    def engine(self):
        """The workers that run this pipeline's models (started on first use)."""
        return self._engine.get(self.models, self.settings)

    def close(self) -> None:
        """Stop the workers (they also stop by themselves once the pipeline is dropped)."""
        self._engine.close()

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    def min_side(self, tasks: Sequence[str]) -> int | None:
        """The decode size every requested task is happy with (None = full resolution)."""
        needs = [self.models[t].adapter.min_side for t in tasks]
        known = [n for n in needs if n is not None]
        return None if len(known) < len(needs) else max(known, default=None)

    def decode(self, source: Any, tasks: Sequence[str], allow_path: bool = False) -> DecodedImage:
        return decode_image(source, min_side=self.min_side(tasks), allow_path=allow_path, settings=self.settings)

    def validate_params(self, tasks: Sequence[str], params: Mapping[str, Any]) -> None:
        """Check every parameter once, before any image is touched: every invalid one is
        reported in one 400, not only the first."""
        problems: list[str] = []
        for task in tasks:
            try:
                self.models[task].adapter.resolve_params(dict(params))
            except BadRequestError as exc:
                problems.extend(p for p in exc.message.split("; ") if p not in problems)
        if problems:
            raise BadRequestError("; ".join(problems))

    def plan(
        self,
        count: int,
        tasks: str | Sequence[str] | None = None,
        row_tasks: Sequence[str | None] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[list[str]]:
        """Each row's task list (a row's own ``tasks`` overrides the request's), with params checked."""
        default_tasks = parse_tasks(tasks, self.tasks)
        per_row = [parse_tasks(rt, self.tasks) if rt else default_tasks for rt in (row_tasks or [None] * count)]
        self.validate_params(sorted({t for ts in per_row for t in ts}), dict(params or {}))
        return per_row

    def annotate(
        self,
        sources: Sequence[Any],
        *,
        ids: Sequence[Any] | None = None,
        tasks: str | Sequence[str] | None = None,
        row_tasks: Sequence[str | None] | None = None,
        params: Mapping[str, Any] | None = None,
        allow_path: bool = False,
        deadline: float | None = None,
    ) -> list[ImageAnswer]:
        """Decode and answer every image; a bad image fails its own row only. A request of
        several images decodes them in parallel.

        On a server (enforce_request_limits) the decoded pixels of one request are bounded by
        ``max_request_pixels``: past it the request is refused before more is decoded.
        """
        per_row = self.plan(len(sources), tasks, row_tasks, params)
        decoded = self._decode_all(sources, per_row, allow_path)
        return self.annotate_decoded(decoded, per_row, ids=ids, params=params, deadline=deadline)

    def _decode_one(self, source: Any, tasks: Sequence[str], allow_path: bool) -> DecodedImage | IdaasError:
        try:
            return self.decode(source, tasks, allow_path)
        except IdaasError as exc:
            return exc

    def _decode_all(
        self, sources: Sequence[Any], per_row: Sequence[Sequence[str]], allow_path: bool
    ) -> list[DecodedImage | IdaasError]:
        """Each source decoded, or its error, in order: several at once on the process's
        decoding pool. The pixel budget is counted in order; once it is passed, the request is
        refused and the images still waiting are not decoded (at most the pool's width of
        images beyond the budget were)."""
        budget = self.settings.max_request_pixels if self.settings.enforce_request_limits else None
        if len(sources) > 1:
            pool = decode_pool(self.settings.decode_threads)
            pending = [pool.submit(self._decode_one, s, row, allow_path) for s, row in zip(sources, per_row)]
            results: Iterable[DecodedImage | IdaasError] = (f.result() for f in pending)
        else:
            pending = []
            results = (self._decode_one(s, row, allow_path) for s, row in zip(sources, per_row))
        decoded: list[DecodedImage | IdaasError] = []
        held = 0
        try:
            for image in results:
                if isinstance(image, DecodedImage):
                    held += image.image.width * image.image.height
                    if budget is not None and held > budget:
                        raise BadRequestError(
                            f"the request's images decode to more than {budget} pixels; send fewer "
                            "or smaller images per request",
                            ErrorCode.REQUEST_TOO_LARGE,
                        )
                decoded.append(image)
        finally:
            for future in pending:
                future.cancel()  # a refused or interrupted request decodes nothing more
        return decoded

    def annotate_decoded(
        self,
        images: Sequence[DecodedImage | IdaasError],
        per_row: Sequence[Sequence[str]],
        *,
        ids: Sequence[Any] | None = None,
        params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> list[ImageAnswer]:
        """Answer images decoded beforehand (batch scoring decodes in parallel threads).

        A server refuses at once when a model's queue is full; every other caller (batch
        scoring, notebooks, Spark) waits for room instead.
        """
        params = dict(params or {})
        answers = [ImageAnswer(id=None if ids is None else _id(ids[i])) for i in range(len(images))]
        decoded: dict[int, DecodedImage] = {}
        for i, image in enumerate(images):
            if isinstance(image, IdaasError):
                answers[i].error = ErrorInfo(**image.to_dict())
                continue
            decoded[i] = image
            answers[i].width, answers[i].height = image.width, image.height
        jobs: dict[str, list[int]] = {}
        for task in self.tasks:
            rows = [i for i in decoded if task in per_row[i]]
            if task != "describe" and rows:
                jobs[task] = rows
        if jobs:
            outcomes = self.engine.run(
                {task: [decoded[i] for i in rows] for task, rows in jobs.items()},
                params,
                deadline=deadline,
                block=not self.settings.enforce_request_limits,
            )
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
                    _describe_into(answers[i], describer.adapter, decoded[i], params)
        for answer in answers:  # stable key order on the wire: the pipeline's task order
            answer.results = {t: answer.results[t] for t in self.tasks if t in answer.results}
            answer.models = {t: answer.models[t] for t in self.tasks if t in answer.models}
        return answers


def _describe_into(answer: ImageAnswer, adapter: Adapter, decoded: DecodedImage, params: dict[str, Any]) -> None:
    """Compose the sentence for one image; a failure is that image's describe error only."""
    try:
        result: Any
        if isinstance(adapter, Describer) and answer.results:
            result = adapter.describe(answer.results, params)
        else:
            result = adapter.predict([decoded], params)[0]
        if isinstance(result, IdaasError):
            raise result
        answer.results["describe"] = result
    except IdaasError as exc:
        answer.task_errors["describe"] = ErrorInfo(**exc.to_dict())
    except Exception as exc:  # noqa: BLE001 - one image's sentence must not fail the request
        log.exception("describe failed on one image")
        answer.task_errors["describe"] = ErrorInfo(
            code=ErrorCode.DESCRIBE_FAILED.value, message=f"the description could not be composed: {type(exc).__name__}"
        )


def _id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)
