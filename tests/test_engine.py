"""The inference engine (vision/engine) on the real offline models: one long-lived worker per
model, batching across concurrent callers, per-image isolation inside shared batches, a
bounded queue that refuses at once, dropped work for callers who gave up, and the
per-request pixel budget. CPU only; the GPU figures come from benchmarks/throughput.py."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from concurrent.futures import Future

import pytest
from PIL import Image

from registry.catalog import build_local_pipeline
from tests.burst import burst
from vision.errors import BadRequestError, ErrorCode, IdaasError, OverloadedError, RequestTimeoutError
from vision.image_input import DecodedImage, decode_image
from vision.pipeline import Pipeline
from vision.settings import get_settings

PHOTOS = ["bus.jpg", "zidane.jpg", "grace_hopper.jpg", "astronaut.png", "coffee.png", "chelsea.png"]
TASKS = "classify,faces,properties,describe"


@pytest.fixture(scope="module")
def models():
    return build_local_pipeline(tasks=["classify", "faces", "properties", "describe"]).models


def pipeline_with(models, **settings) -> Pipeline:
    """A fresh pipeline (fresh workers) over already-loaded models, with engine settings."""
    return Pipeline(models, settings=get_settings().model_copy(update=settings))


@pytest.fixture(scope="module")
def solo(models, photo_bytes) -> dict[str, dict]:
    """Each photo answered alone, one call each: the reference."""
    pipeline = pipeline_with(models, max_wait_ms=0.0)
    return {name: pipeline.annotate([photo_bytes[name]], ids=[name], tasks=TASKS)[0].to_wire() for name in PHOTOS}


def test_concurrent_single_image_calls_answer_as_solo_calls_and_share_batches(models, photo_bytes, solo):
    pipeline = pipeline_with(models, max_wait_ms=50.0)
    names = PHOTOS * 2
    answers = burst(lambda i: pipeline.annotate([photo_bytes[names[i]]], ids=[names[i]], tasks=TASKS)[0], len(names))
    for name, answer in zip(names, answers):
        assert answer.to_wire() == solo[name], name
    workers = pipeline.engine.workers
    assert workers["classify"].stats.images == len(names)
    assert workers["classify"].stats.largest_batch > 1  # requests really shared a forward pass
    assert workers["faces"].stats.largest_batch > 1


def test_each_model_runs_on_one_thread_and_no_thread_starts_per_request(models, photo_bytes):
    pipeline = pipeline_with(models, max_wait_ms=5.0)
    pipeline.annotate([photo_bytes["bus.jpg"]], tasks=TASKS)  # workers start on first use
    seen: dict[str, set[int]] = {"classify": set(), "faces": set()}
    originals = {}
    for task in seen:
        adapter = models[task].adapter
        originals[task] = adapter.forward

        def spy(batch, params, _task=task, _forward=adapter.forward):
            seen[_task].add(threading.get_ident())
            return _forward(batch, params)

        adapter.forward = spy  # instance attribute: records the thread, then runs the real forward
    started: list[str] = []
    real_start = threading.Thread.start
    gate = threading.Event()
    callers = [
        threading.Thread(target=lambda n=name: (gate.wait(), pipeline.annotate([photo_bytes[n]], tasks=TASKS)))
        for name in PHOTOS * 3
    ]
    for caller in callers:
        caller.start()

    def counting_start(self, *args, **kwargs):
        started.append(self.name)
        return real_start(self, *args, **kwargs)

    threading.Thread.start = counting_start
    try:
        gate.set()
        for caller in callers:
            caller.join(120)
    finally:
        threading.Thread.start = real_start
        for task in originals:
            del models[task].adapter.forward
    assert started == [], f"threads started during the burst: {started}"
    assert len(seen["classify"]) == 1 and len(seen["faces"]) == 1
    assert seen["classify"] != seen["faces"]  # one worker each
    assert threading.get_ident() not in seen["classify"] | seen["faces"]


def _poisoned(photo: bytes) -> DecodedImage:
    """An image the door accepted whose pixels cannot be read: a truncated JPEG left lazy,
    so it breaks inside the model's preprocessing, in the middle of a shared batch."""
    good = decode_image(photo)
    lazy = Image.open(io.BytesIO(photo[: len(photo) // 3]))
    return DecodedImage(image=lazy, width=good.width, height=good.height, format="JPEG")


def test_a_broken_image_fails_alone_inside_a_shared_batch(models, photo_bytes, solo):
    pipeline = pipeline_with(models, max_wait_ms=200.0)
    worker = pipeline.engine.workers["classify"]
    good = [decode_image(photo_bytes[n]) for n in ("coffee.png", "chelsea.png")]
    poisoned = _poisoned(photo_bytes["bus.jpg"])
    # Two callers' images land in one batch (the worker waits 200 ms to fill it).
    first = worker.submit(good, {"top_k": 5})
    second = worker.submit([poisoned, good[0]], {"top_k": 5})
    results = [f.result(60) for f in first + second]
    assert worker.stats.largest_batch == 4
    assert isinstance(results[2], IdaasError) and results[2].code == ErrorCode.INFERENCE_FAILED
    expected = [solo["coffee.png"]["classify"], solo["chelsea.png"]["classify"], solo["coffee.png"]["classify"]]
    assert [r.to_wire() for r in (results[0], results[1], results[3])] == expected


def test_a_full_queue_refuses_at_once_with_a_plain_message(models, photo_bytes):
    pipeline = pipeline_with(models, max_batch=1, queue_size=4, max_wait_ms=0.0)
    worker = pipeline.engine.workers["classify"]
    images = [decode_image(photo_bytes["coffee.png"])] * 8
    first = worker.submit(images, {})  # an empty queue admits a whole request
    started = time.monotonic()
    with pytest.raises(OverloadedError, match="busy"):
        worker.submit(images[:2], {})
    assert time.monotonic() - started < 0.5  # refused, not queued
    assert all(not isinstance(f.result(60), IdaasError) for f in first)
    assert worker.stats.refused == 2
    # A batch caller (block=True) waits for room instead of being refused.
    waited = worker.submit(images, {}, block=True)
    assert len([f.result(60) for f in waited]) == 8


def test_a_timed_out_request_has_its_queued_images_dropped_not_computed(models, photo_bytes):
    pipeline = pipeline_with(models, max_batch=1, max_wait_ms=0.0)
    engine = pipeline.engine
    worker = engine.workers["classify"]
    images = [decode_image(photo_bytes["coffee.png"])] * 6
    busy = worker.submit(images, {})  # keeps the worker busy for a while
    with pytest.raises(RequestTimeoutError):
        engine.run({"classify": images}, {}, deadline=time.monotonic() + 0.01)
    for f in busy:
        f.result(60)
    time.sleep(0.2)
    assert worker.stats.images == 6  # only the first caller's images were computed
    assert worker.stats.dropped == 6
    assert worker.queue_depth == 0


def test_an_interrupted_caller_leaves_nothing_queued(models, photo_bytes):
    pipeline = pipeline_with(models, max_batch=1, max_wait_ms=0.0)
    worker = pipeline.engine.workers["classify"]
    images = [decode_image(photo_bytes["coffee.png"])] * 6
    busy = worker.submit(images, {})
    waiting = worker.submit(images, {})
    assert worker.cancel(waiting) >= 5  # what a cancelled notebook call does on its way out
    for f in busy:
        f.result(60)
    assert all(f.cancelled() for f in waiting[1:])
    assert worker.stats.images <= 7


def test_a_request_above_the_pixel_budget_is_refused_before_more_is_decoded(models, photo_bytes):
    pipeline = pipeline_with(models, enforce_request_limits=True, max_request_pixels=2_000_000)
    bus = photo_bytes["bus.jpg"]  # 810x1080, 0.87 MP decoded at full size for faces
    assert len(pipeline.annotate([bus, bus], tasks="faces")) == 2
    with pytest.raises(BadRequestError) as refused:
        pipeline.annotate([bus, bus, bus], tasks="faces")
    assert refused.value.code == ErrorCode.REQUEST_TOO_LARGE
    assert "pixels" in refused.value.message


def test_every_invalid_parameter_is_reported_in_one_error(models, photo_bytes):
    pipeline = pipeline_with(models)
    with pytest.raises(BadRequestError) as refused:
        pipeline.annotate([photo_bytes["bus.jpg"]], tasks=TASKS, params={"top_k": 0, "max_faces": "many", "colors": 99})
    message = refused.value.message
    assert "'top_k'" in message and "'max_faces'" in message and "'colors'" in message


def test_a_dropped_pipeline_stops_its_workers(models, photo_bytes):
    import gc

    pipeline = pipeline_with(models)
    pipeline.annotate([photo_bytes["coffee.png"]], tasks="classify")
    names = {t.name for t in threading.enumerate()}
    ref = pipeline.engine.workers["classify"]._threads[0]
    del pipeline
    gc.collect()
    ref.join(5)
    assert not ref.is_alive(), names


def test_future_results_are_values_not_exceptions(models, photo_bytes):
    pipeline = pipeline_with(models)
    futures = pipeline.engine.workers["classify"].submit([decode_image(photo_bytes["coffee.png"])], {"top_k": 1})
    assert isinstance(futures[0], Future)
    assert futures[0].result(60).labels[0].label == "espresso"


def test_a_request_of_several_images_decodes_them_on_the_shared_pool_in_order(models, photo_bytes, solo):
    pipeline = pipeline_with(models, decode_threads=2)
    decoded_on: set[str] = set()

    def spy(*args, **kwargs):
        decoded_on.add(threading.current_thread().name)
        return decode_image(*args, **kwargs)

    sources = [photo_bytes[name] for name in PHOTOS]
    sources.insert(2, b"not an image at all")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vision.pipeline.decode_image", spy)
        answers = pipeline.annotate(sources, ids=PHOTOS[:2] + ["broken"] + PHOTOS[2:], tasks=TASKS)
        started: list[str] = []
        real_start = threading.Thread.start
        patch.setattr(
            threading.Thread, "start", lambda self, *a, **k: (started.append(self.name), real_start(self, *a, **k))[1]
        )
        again = pipeline.annotate(sources, tasks=TASKS)
    assert decoded_on and all(name.startswith("idaas-decode") for name in decoded_on)
    assert started == [], f"threads started by the second request: {started}"
    assert answers[2].error is not None and answers[2].error.code == ErrorCode.NOT_AN_IMAGE.value
    kept = [a for a in answers if a.id != "broken"]
    assert [a.to_wire() for a in kept] == [solo[name] for name in PHOTOS]
    without_ids = [{**a.to_wire(), "id": None} for a in again if a.error is None]
    assert without_ids == [{**solo[name], "id": None} for name in PHOTOS]


EXIT_WHILE_BUSY = """
import sys, time
from vision.settings import apply_offline_env
apply_offline_env()
from registry.catalog import build_local_pipeline
from vision.image_input import decode_image
from vision.samples import sample_photos
pipeline = build_local_pipeline(tasks=["classify", "faces"])
images = [decode_image(path, allow_path=True) for path in sample_photos().values()] * 3
for task in ("classify", "faces"):
    pipeline.engine.workers[task].submit(images, {})
time.sleep(1.0)  # both workers are inside a forward pass now
sys.exit(3)
"""


def test_a_process_that_exits_while_its_workers_compute_exits_cleanly():
    # Worker threads are daemons; one still inside torch while the interpreter tears down
    # aborted the process (exit 134, "terminate called without an active exception"), as
    # `idaas score` did on Ctrl-C. The engine's exit hook lets the batch finish first.
    done = subprocess.run([sys.executable, "-c", EXIT_WHILE_BUSY], capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
