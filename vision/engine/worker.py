"""One long-lived worker per loaded model, fed by a bounded queue: cross-request dynamic
batching, as Triton's dynamic batcher and Ray Serve's ``@serve.batch`` do.

Request threads only submit decoded images and wait on futures. The worker thread drains
what is queued into one batch (up to ``max_batch`` images, waiting at most ``max_wait_ms``
for more), runs preprocess -> forward -> postprocess on the model's device, and hands each
image its own answer. So:

- the model always runs on the same thread (on CUDA a thread's first use of the GPU is
  expensive, and a per-request thread paid it on every request);
- images from many requests share one forward pass;
- a bad image fails only its own future, even inside a shared batch (the batch is retried
  image by image);
- a full queue refuses at once (``OverloadedError``) instead of queueing forever;
- an image whose future was cancelled (its caller gave up) is dropped, not computed.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from vision.adapters.base import Adapter, parameters_key
from vision.engine.listeners import notify_batch
from vision.engine.split import Unsplittable, take_rows
from vision.errors import ErrorCode, IdaasError, OverloadedError
from vision.image_input import DecodedImage
from vision.results import TaskResult

log = logging.getLogger(__name__)

# How often an idle worker wakes to see whether its pipeline is gone (then it exits).
_IDLE_POLL_S = 1.0


@dataclass(eq=False)
class Job:
    """One image for one model, with the parameters resolved for that model."""

    image: DecodedImage
    params: dict[str, Any]
    forward_key: tuple
    params_key: tuple
    future: Future = field(default_factory=Future)


@dataclass
class WorkerStats:
    batches: int = 0
    images: int = 0
    dropped: int = 0  # cancelled before they were computed
    refused: int = 0  # refused because the queue was full
    largest_batch: int = 0
    thread_names: set[str] = field(default_factory=set)


class ModelWorker:
    """Owns one adapter: its queue, its thread(s) and its batching."""

    def __init__(
        self, adapter: Adapter, ref: str, *, max_batch: int, max_wait_ms: float, capacity: int, threads: int = 1
    ):
        self.adapter = adapter
        self.ref = ref
        self.task = adapter.task
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.capacity = max(1, int(capacity))
        self.stats = WorkerStats()
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        me = weakref.ref(self)
        self._threads = [
            threading.Thread(target=_serve, args=(me,), daemon=True, name=f"idaas-{self.task}-{i}")
            for i in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    # --- the request side ---------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        return len(self._jobs)

    def submit(
        self, images: Sequence[DecodedImage], params: dict[str, Any] | None, *, block: bool = False
    ) -> list[Future]:
        """Queue images for this model; one future per image, resolving to a TaskResult or an
        IdaasError (never raising). ``block=False`` refuses at once when the queue is full;
        ``block=True`` (batch scoring) waits for room instead."""
        resolved = self.adapter.resolve_params(params)
        forward_key = self.adapter.forward_key(resolved)
        params_key = parameters_key(resolved)
        jobs = [Job(image, resolved, forward_key, params_key) for image in images]
        with self._cond:
            if self._closed:
                raise IdaasError(f"{self.ref} is shut down", ErrorCode.SERVER_UNAVAILABLE)
            if not block:
                # An empty queue always admits a whole request, however large: the request
                # limits, not the queue, bound a single caller.
                if self._jobs and len(self._jobs) + len(jobs) > self.capacity:
                    self.stats.refused += len(jobs)
                    raise OverloadedError(f"{self.ref} is busy ({len(self._jobs)} images queued); try again shortly")
                self._jobs.extend(jobs)
            else:
                for job in jobs:
                    while len(self._jobs) >= self.capacity and not self._closed:
                        self._cond.wait(_IDLE_POLL_S)
                    self._jobs.append(job)
                    self._cond.notify_all()
            self._cond.notify_all()
        return [job.future for job in jobs]

    def cancel(self, futures: Sequence[Future]) -> int:
        """Drop these images if they are still queued; returns how many were dropped."""
        cancelled = {id(f) for f in futures if f.cancel()}
        if not cancelled:
            return 0
        with self._cond:
            kept = [job for job in self._jobs if id(job.future) not in cancelled]
            dropped = len(self._jobs) - len(kept)
            self._jobs.clear()
            self._jobs.extend(kept)
            self.stats.dropped += dropped
            self._cond.notify_all()
        return len(cancelled)

    def close(self, wait_s: float = 0.0) -> None:
        """Cancel what is queued and stop the thread(s); with ``wait_s``, wait up to that long
        for a batch in progress to finish and the threads to end."""
        with self._cond:
            self._closed = True
            pending = list(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
        for job in pending:
            job.future.cancel()
        deadline = time.monotonic() + wait_s
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    # --- the worker side ----------------------------------------------------------------
    def _next_batch(self) -> list[Job] | None:
        """Up to max_batch queued jobs, waiting at most max_wait for more once one is there;
        [] when idle for a while, None when closed."""
        with self._cond:
            if not self._jobs and not self._closed:
                self._cond.wait(_IDLE_POLL_S)
            if self._closed:
                return None
            if not self._jobs:
                return []
            if len(self._jobs) < self.max_batch and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait
                while len(self._jobs) < self.max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            batch: list[Job] = []
            while self._jobs and len(batch) < self.max_batch:
                job = self._jobs.popleft()
                if job.future.set_running_or_notify_cancel():
                    batch.append(job)
                else:
                    self.stats.dropped += 1
            self._cond.notify_all()  # room for blocked submitters
            return batch

    def _process(self, batch: list[Job]) -> None:
        self.stats.thread_names.add(threading.current_thread().name)
        groups: dict[tuple, list[Job]] = {}
        for job in batch:
            groups.setdefault(job.forward_key, []).append(job)
        for jobs in groups.values():
            started = time.perf_counter()
            try:
                results = self._answer(jobs)
            except BaseException:  # never leave a caller waiting on a future nobody will set
                results = [_failed(self.ref)] * len(jobs)
                log.exception("%s: unexpected failure", self.ref)
            for job, result in zip(jobs, results):
                job.future.set_result(result)
            self.stats.batches += 1
            self.stats.images += len(jobs)
            self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
            notify_batch(self.task, self.ref, len(jobs), len(self._jobs), time.perf_counter() - started)

    def _answer(self, jobs: list[Job]) -> list[TaskResult | IdaasError]:
        try:
            return self._run_shared(jobs)
        except IdaasError as exc:  # a refusal by the model applies to every image it was given
            if len(jobs) == 1:
                return [exc]
        except Exception:  # noqa: BLE001 - one bad image must not fail its batch: retry one by one
            if len(jobs) == 1:
                log.exception("%s failed on one image", self.ref)
                return [_failed(self.ref)]
            log.exception("%s: batch of %d failed; retrying images one by one", self.ref, len(jobs))
        return [self._answer([job])[0] for job in jobs]

    def _run_shared(self, jobs: list[Job]) -> list[TaskResult | IdaasError]:
        """One preprocess + forward for all jobs; postprocess per group of equal parameters."""
        import torch

        adapter = self.adapter
        images = [job.image for job in jobs]
        with torch.inference_mode():
            raw = adapter.forward(adapter.preprocess(images, jobs[0].params), jobs[0].params)
            by_params: dict[tuple, list[int]] = {}
            for i, job in enumerate(jobs):
                by_params.setdefault(job.params_key, []).append(i)
            if len(by_params) == 1:
                return list(adapter.postprocess(raw, images, jobs[0].params))
            out: list[Any] = [None] * len(jobs)
            for rows in by_params.values():
                params = jobs[rows[0]].params
                subset = [images[i] for i in rows]
                try:
                    part = take_rows(raw, rows, len(jobs))
                except Unsplittable:
                    part = adapter.forward(adapter.preprocess(subset, params), params)
                for i, result in zip(rows, adapter.postprocess(part, subset, params)):
                    out[i] = result
            return out


def _failed(ref: str) -> IdaasError:
    name = ref.split("/")[0]
    return IdaasError(f"{name} could not process this image", ErrorCode.INFERENCE_FAILED)


def _serve(ref: weakref.ref[ModelWorker]) -> None:
    """A worker thread's loop. Holds the worker only while working, so a worker whose
    pipeline was dropped is collected and its thread ends within a poll interval."""
    while True:
        worker = ref()
        if worker is None:
            return
        try:
            batch = worker._next_batch()
            if batch is None:
                return
            if batch:
                worker._process(batch)
        except BaseException:  # noqa: BLE001 - the thread must outlive any single failure
            log.exception("worker %s: unexpected failure", worker.ref)
            time.sleep(0.1)
        finally:
            del worker
