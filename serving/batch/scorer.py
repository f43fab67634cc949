"""The batch scoring engine behind `idaas score`.

Images are read and decoded in a thread pool while the model answers the batch before them
(Pillow and torch both release the GIL), using the model's own Pipeline: the same decode
sizes, the same adapters and the same batching as REST and in-process ``predict``, so the
answers are the same. Rows are flushed in atomic chunks (parquet_sink.py); a rerun after
Ctrl-C or ``kill -9`` scores only what no chunk holds yet.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.batch.core import DEFAULT_MODEL_URI, normal_tasks, read_source, task_params
from serving.batch.parquet_sink import RunStore
from serving.batch.records import to_record
from serving.batch.sources import InputItem, Inputs
from vision.errors import ErrorCode, IdaasError, ImageInputError, ModelSpecError
from vision.image_input import DecodedImage
from vision.pipeline import Pipeline
from vision.results import ImageAnswer

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MODEL_URI", "BatchScorer", "Summary", "load_pipeline", "resolve_model_uri", "score"]


def resolve_model_uri(uri: str) -> str:
    """``models:/NAME@ALIAS`` -> ``models:/NAME/VERSION``, so a long or resumed run keeps one
    version even if the alias moves meanwhile; other URIs are returned as they are."""
    if not uri.startswith("models:/") or "@" not in uri:
        return uri
    from mlflow.exceptions import MlflowException

    from registry.store import client

    name, _, alias = uri[len("models:/") :].partition("@")
    try:
        version = client().get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise IdaasError(f"{uri}: {exc.message}", ErrorCode.BAD_REQUEST) from None
    return f"models:/{name}/{version.version}"


def load_pipeline(model_uri: str) -> Pipeline:
    """The Pipeline inside an idaas pyfunc (one model or the router), loaded through MLflow."""
    import mlflow.pyfunc

    from registry.store import configure

    configure()
    model = mlflow.pyfunc.load_model(model_uri)
    pipeline = getattr(model.unwrap_python_model(), "pipeline", None)
    if not isinstance(pipeline, Pipeline):
        raise ModelSpecError(f"{model_uri} is not an idaas model (its python model has no vision Pipeline)")
    return pipeline


class BatchScorer:
    """Answers batches of inputs, decoding the next batches while the model runs on this one."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        tasks: str | Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        batch_size: int = 32,
        workers: int | None = None,
        prefetch_batches: int = 2,
    ):
        self.pipeline = pipeline
        self.params = dict(params or {})
        # Checks the tasks and every parameter once, before any image is read (a bad one is a 400).
        self.tasks = pipeline.plan(1, tasks, None, self.params)[0]
        self.batch_size = max(1, int(batch_size))
        self.workers = workers or min(8, os.cpu_count() or 2)
        self.prefetch_batches = max(1, int(prefetch_batches))

    def decode(self, item: InputItem) -> DecodedImage | IdaasError:
        """Read and decode one input at the size the tasks need; a bad one becomes its error."""
        try:
            source = read_source(item.source, self.pipeline.settings.max_image_bytes)
            return self.pipeline.decode(source, self.tasks, allow_path=True)
        except IdaasError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop a run of a million
            log.exception("unexpected error reading %s", item.source)
            return ImageInputError(f"could not read this image: {type(exc).__name__}: {exc}", ErrorCode.NOT_AN_IMAGE)

    def answer(self, items: Sequence[InputItem], decoded: Sequence[DecodedImage | IdaasError]) -> list[ImageAnswer]:
        return self.pipeline.annotate_decoded(
            decoded, [self.tasks] * len(items), ids=[i.id for i in items], params=self.params
        )

    def run(self, batches: Iterable[Sequence[InputItem]]) -> Iterator[tuple[Sequence[InputItem], list[ImageAnswer]]]:
        """Yield (batch, answers) in order; up to ``prefetch_batches`` batches decode ahead."""
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="idaas-decode")
        pending: deque[tuple[Sequence[InputItem], list[Future]]] = deque()
        batches = iter(batches)

        def submit_next() -> None:
            batch = next(batches, None)
            if batch is not None:
                pending.append((batch, [pool.submit(self.decode, item) for item in batch]))

        try:
            for _ in range(self.prefetch_batches):
                submit_next()
            while pending:
                batch, futures = pending.popleft()
                submit_next()
                decoded = [f.result() for f in futures]
                yield batch, self.answer(batch, decoded)
        finally:
            # On Ctrl-C, don't decode what nobody will answer.
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Summary:
    output: Path
    total: int  # inputs listed
    resumed: int  # rows already done by an earlier, interrupted run
    scored: int  # images answered by this run
    seconds: float
    outcomes: Counter = field(default_factory=Counter)  # "ok" or an error code -> rows
    task_errors: Counter = field(default_factory=Counter)  # task -> rows where that task failed alone
    model_uri: str = ""

    @property
    def images_per_s(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [
            f"scored {self.scored} images in {self.seconds:.1f} s ({self.images_per_s:.1f} images/s) "
            f"with {self.model_uri}"
        ]
        if self.resumed:
            out.append(f"resumed: {self.resumed} rows were already done by an earlier run")
        out.append(f"rows: {self.total}")
        for outcome, n in sorted(self.outcomes.items(), key=lambda kv: (kv[0] != "ok", -kv[1], kv[0])):
            out.append(f"  {outcome:<18} {n}")
        for task, n in sorted(self.task_errors.items()):
            out.append(f"  {task} failed on {n} images (recorded in its column)")
        out.append(f"output: {self.output}")
        return out


def _chunked(items: Sequence[InputItem], size: int) -> Iterator[Sequence[InputItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="img",
        desc="scoring",
        dynamic_ncols=True,
        smoothing=0.05,
        file=sys.stderr,
        disable=not enabled,
    )


def score(
    inputs: Inputs,
    output: Path,
    *,
    model: str = DEFAULT_MODEL_URI,
    tasks: str | Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    batch_size: int = 32,
    chunk_size: int = 512,
    workers: int | None = None,
    restart: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    pipeline: Pipeline | None = None,
) -> Summary:
    """Score every input into ``output`` (Parquet), resuming an unfinished run into the same file.

    ``chunk_size`` images are flushed at a time (rounded up to whole batches, so a resumed
    run batches the rest exactly as an uninterrupted one would). ``pipeline`` skips loading
    ``model`` (benchmarks); it must be the pipeline of that model.
    """
    store = RunStore(output)
    store.check_output(overwrite)
    params = task_params(params)
    wanted = {"model": model, "tasks": normal_tasks(tasks), "params": params}
    pending = None if restart else store.check_resumable(wanted)
    resolved = pending["model_version"] if pending else resolve_model_uri(model)
    if pipeline is None:
        pipeline = load_pipeline(resolved)
    scorer = BatchScorer(pipeline, tasks=tasks, params=params, batch_size=batch_size, workers=workers)
    started = time.perf_counter()  # throughput counts reading, decoding, answering and writing, not loading
    store.begin(
        {
            **wanted,
            "model_version": resolved,
            "inputs": inputs.description,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        restart=restart,
        overwrite=overwrite,
    )

    done = store.done_keys()
    todo = [item for item in inputs.items if item.key not in done]
    resumed = len(inputs.items) - len(todo)
    chunk_size = max(1, -(-int(chunk_size) // scorer.batch_size)) * scorer.batch_size
    batches = [batch for chunk in _chunked(todo, chunk_size) for batch in _chunked(chunk, scorer.batch_size)]
    bar = _progress(len(inputs.items), resumed, progress)
    keys: list[str] = []
    records: list[dict[str, Any]] = []
    errors = 0
    try:
        for batch, answers in scorer.run(batches):
            for item, answer in zip(batch, answers):
                keys.append(item.key)
                records.append(to_record(answer.to_wire(), scorer.tasks, path=item.source or None))
                errors += answer.error is not None
            if len(records) >= chunk_size:
                store.write_chunk(keys, records, scorer.tasks)
                keys, records = [], []
            bar.update(len(batch))
            bar.set_postfix(errors=errors, refresh=False)
        if records:
            store.write_chunk(keys, records, scorer.tasks)
    finally:
        bar.close()
    table = store.assemble(
        inputs.items,
        inputs.metadata,
        scorer.tasks,
        {
            "model": model,
            "model_version": resolved,
            "tasks": scorer.tasks,
            "params": params,
            "inputs": inputs.description,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    seconds = time.perf_counter() - started
    outcomes = Counter("ok" if code is None else code for code in table.column("error_code").to_pylist())
    task_errors: Counter = Counter()
    for task in scorer.tasks:
        task_errors[task] = sum(1 for v in table.column(task).to_pylist() if v and v.startswith('{"error":'))
    return Summary(
        output=store.output,
        total=len(inputs.items),
        resumed=resumed,
        scored=len(todo),
        seconds=seconds,
        outcomes=outcomes,
        task_errors=+task_errors,
        model_uri=resolved,
    )
