"""The workers of one pipeline, and the request side's view of them: submit images per task,
wait for the answers until a deadline, drop what a departed caller left queued."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from vision.adapters.base import Adapter
from vision.engine.worker import ModelWorker
from vision.errors import IdaasError, RequestTimeoutError
from vision.image_input import DecodedImage
from vision.results import TaskResult
from vision.settings import Settings

# Every live engine of this process, for queue-depth metrics and the exit hook.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
# How long the exit hook waits for a batch in progress (a CPU batch takes seconds at most).
_EXIT_WAIT_S = 30.0
_exit_hook = threading.Lock()
_exit_hook_registered = False
# Tasks composed from the other answers in the request thread: no model, nothing to queue.
INLINE_TASKS = ("describe",)


class LoadedModel(Protocol):
    adapter: Adapter
    ref: str


def queue_depths() -> dict[str, int]:
    """Model ref -> images waiting in its queue, over every engine of this process."""
    depths: dict[str, int] = {}
    for engine in list(_engines):
        for worker in engine.workers.values():
            depths[worker.ref] = depths.get(worker.ref, 0) + worker.queue_depth
    return depths


# A batch cap for accelerators: enough images per forward pass to keep a GPU busy.
ACCELERATOR_MAX_BATCH = 32


def batch_cap(adapter: Adapter, settings: Settings) -> int:
    """The most images ``adapter`` runs in one batch: the spec's ``options.max_batch``, else
    IDAAS_MAX_BATCH, else the family's default, else by device: 32 on an accelerator, and the
    adapter's own batch_size (8) on the CPU, where a batch of 32 no longer fits the caches
    (MobileNetV2 on 2 cores: 71 images/s in batches of 8, 42 in batches of 32)."""
    options = adapter.spec.options
    if "max_batch" in options:
        return max(1, int(options["max_batch"]))
    if settings.max_batch is not None:
        return settings.max_batch
    if adapter.default_max_batch is not None:
        return adapter.default_max_batch
    return adapter.batch_size if adapter.device == "cpu" else ACCELERATOR_MAX_BATCH


class Engine:
    """One ModelWorker per model of a pipeline (model-free CPU tasks get a small pool)."""

    def __init__(self, models: Mapping[str, LoadedModel], settings: Settings):
        self.settings = settings
        self.workers: dict[str, ModelWorker] = {}
        for task, loaded in models.items():
            if task in INLINE_TASKS:
                continue
            adapter = loaded.adapter
            options = adapter.spec.options
            self.workers[task] = ModelWorker(
                adapter,
                loaded.ref,
                max_batch=batch_cap(adapter, settings),
                max_wait_ms=float(options.get("max_wait_ms", settings.max_wait_ms)),
                capacity=settings.queue_size,
                threads=1 if adapter.needs_weights else settings.model_free_threads,
            )
        _engines.add(self)
        _register_exit_hook()

    def close(self, wait_s: float = 0.0) -> None:
        """Stop the workers; with ``wait_s``, wait for a batch in progress to finish."""
        deadline = time.monotonic() + wait_s
        for worker in self.workers.values():
            worker.close(max(0.0, deadline - time.monotonic()))

    def run(
        self,
        jobs: Mapping[str, Sequence[DecodedImage]],
        params: Mapping[str, Any],
        *,
        deadline: float | None = None,
        block: bool = False,
    ) -> dict[str, list[TaskResult | IdaasError]]:
        """Answer every task's images; each list in the order given.

        ``deadline`` (time.monotonic()) bounds the wait: past it, this request's images still
        queued are dropped and RequestTimeoutError is raised. Any other way out (an
        overloaded queue, an interrupt) drops them too.
        """
        submitted: dict[str, list[Future]] = {}
        try:
            for task, images in jobs.items():
                submitted[task] = self.workers[task].submit(images, dict(params), block=block)
            answers: dict[str, list[TaskResult | IdaasError]] = {}
            for task, futures in submitted.items():
                answers[task] = [future.result(timeout=_left(deadline)) for future in futures]
            return answers
        except FutureTimeout:
            raise RequestTimeoutError(
                "the answers were not ready before the request's deadline; its queued images were dropped"
            ) from None
        finally:
            for task, futures in submitted.items():
                pending = [f for f in futures if not f.done()]
                if pending:
                    self.workers[task].cancel(pending)


def _register_exit_hook() -> None:
    global _exit_hook_registered
    with _exit_hook:
        if not _exit_hook_registered:
            atexit.register(_close_all)
            _exit_hook_registered = True


def _close_all() -> None:
    """At interpreter exit, stop every engine and let a batch in progress finish first. Worker
    threads are daemons: one still inside a forward pass while the interpreter tears down
    torch's native state aborts the process ("terminate called without an active exception",
    exit -6), which is what `idaas score` interrupted by Ctrl-C did."""
    deadline = time.monotonic() + _EXIT_WAIT_S
    for engine in list(_engines):
        engine.close(max(0.0, deadline - time.monotonic()))


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


class LazyEngine:
    """Starts a pipeline's workers on first use, once, whichever thread asks first (a
    pipeline built only to derive a signature never starts threads)."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def get(self, models: Mapping[str, LoadedModel], settings: Settings) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = Engine(models, settings)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
