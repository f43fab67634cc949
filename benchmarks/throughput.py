"""Benchmark: what the engine gets out of the hardware, on CPU or CUDA, in one run.

    .venv/bin/python benchmarks/throughput.py [--device auto] [--images 64] [--callers 1,8,32]

Prints one table:

  stages     decode (the image door, 1 thread and a pool; nvJPEG on CUDA), preprocess,
             forward, postprocess of a classify batch, and the raw forward alone
             (tensors already on the device): pipeline / raw forward is what the engine
             costs around the model;
  baselines  faces: facenet-pytorch's own MTCNN.detect, one image at a time (how faces ran
             before the engine) vs the engine's batched MTCNN, same photos, same run;
  tasks      per task set (classify; faces; all tasks = classify, faces, a YOLOv8n detector,
             properties, describe): images/s for one caller sending batches of pre-decoded
             images, one caller sending batches of encoded bytes (decode included), and N
             concurrent callers sending ONE image per call (what REST clients do), with the
             median latency of a call.

Models come from the offline packs (MobileNetV2, MTCNN) and a YOLOv8n built from its config
(random weights: the compute is a real YOLOv8n's, the boxes are noise). No registry and no
MLflow: only the core (vision/) is imported, so it runs wherever torch does. Not a test:
figures depend on the machine; medians of --repeats runs are printed.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vision.settings import apply_offline_env  # noqa: E402

app = typer.Typer(add_completion=False)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _median_time(fn, repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_models(device: str, with_detector: bool):
    """task -> Loaded for the offline models (and a YOLOv8n of random weights)."""
    from vision.adapters import build_adapter
    from vision.pipeline import Loaded
    from vision.spec import ModelSpec
    from vision.weights import pack_path

    specs = [
        (
            ModelSpec(
                name="classify-mobilenet-v2", task="classify", family="torchvision", options={"arch": "mobilenet_v2"}
            ),
            pack_path("mobilenet_v2"),
        ),
        (
            ModelSpec(
                name="faces-mtcnn",
                task="faces",
                family="mtcnn",
                options={"min_face_size": 20, "attributes": {"method": "eye-darkness"}},
            ),
            pack_path("mtcnn"),
        ),
        (ModelSpec(name="properties", task="properties", family="properties"), None),
        (ModelSpec(name="describe", task="describe", family="describe"), None),
    ]
    if with_detector:
        import torch

        from vision.settings import quiet_ultralytics

        quiet_ultralytics()
        from ultralytics import YOLO

        torch.manual_seed(0)
        weights = Path(tempfile.mkdtemp(prefix="idaas-bench-")) / "yolov8n-random.pt"
        YOLO("yolov8n.yaml").save(weights)
        specs.insert(2, (ModelSpec(name="detect-yolov8n", task="detect", family="yolo"), weights))
    return {
        spec.task: Loaded(build_adapter(spec, weights, device=device), ref=f"{spec.name}/bench")
        for spec, weights in specs
    }


def corpus(count: int) -> list[bytes]:
    """``count`` encoded photos: the bundled photos as JPEG, cycled (real photos, mixed sizes)."""
    from PIL import Image

    from vision.samples import sample_photos

    encoded = []
    for path in sample_photos().values():
        with Image.open(path) as img:
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=90)
            encoded.append(out.getvalue())
    return [encoded[i % len(encoded)] for i in range(count)]


def callers_rate(pipeline, photos: list[bytes], tasks: str, callers: int, total: int) -> tuple[float, float]:
    """``callers`` threads, each sending one image per call, ``total`` calls in all:
    (images/s, median seconds per call)."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def caller() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            start = time.perf_counter()
            pipeline.annotate([photos[i % len(photos)]], tasks=tasks)
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total / (time.perf_counter() - start), statistics.median(latencies)


def row(name: str, value: float, unit: str, note: str = "") -> None:
    print(f"  {name:<58} {value:>10.1f} {unit:<7} {note}")


@app.command()
def main(
    device: str = typer.Option("auto", help="auto, cpu, cuda"),
    images: int = typer.Option(64, help="images per batched measurement"),
    callers: str = typer.Option("1,8,32", help="concurrent one-image callers to measure"),
    calls: int = typer.Option(64, help="one-image calls per concurrency measurement"),
    repeats: int = typer.Option(3, help="runs per figure (the median is printed)"),
    detector: bool = typer.Option(True, help="include a YOLOv8n in 'all tasks' (needs ultralytics)"),
) -> None:
    settings = apply_offline_env()
    import torch

    from vision.adapters.base import pick_device
    from vision.image_input import decode_image
    from vision.pipeline import Pipeline

    device = pick_device(device)
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        detector = False
    models = build_models(device, detector)
    photos = corpus(images)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU x{os.cpu_count()}"
    print(
        f"idaas throughput on {name}: torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
        f"device {device}, {images} images per batch, medians of {repeats}"
    )
    # A GPU takes a whole batched call in one forward pass; on the CPU the engine's own cap
    # (the adapter's batch_size) is faster than one large batch.
    cap = {"max_batch": max(64, images)} if device.startswith("cuda") else {}
    pipeline = Pipeline(models, settings=settings.model_copy(update=cap))
    all_tasks = ",".join(models)
    warm = pipeline.annotate(photos[:16], tasks=all_tasks)  # warm-up: workers, kernels, allocator
    failed = {f"{a.id or i}:{task}": e.code for i, a in enumerate(warm) for task, e in a.task_errors.items()}
    if failed or any(a.error for a in warm):
        raise SystemExit(f"models failed on {device}: {failed or [a.error for a in warm]}; figures would be wrong")
    bus = warm[0]
    print(
        f"check: first photo top-1 {bus.results['classify'].labels[0].label!r}, "
        f"{len(bus.results['faces'].faces)} faces, boxes {[f.box for f in bus.results['faces'].faces]}"
    )

    # --- stages of one classify batch -----------------------------------------------------
    print("stages (classify, MobileNetV2, one batch):")
    adapter = models["classify"].adapter
    params = adapter.resolve_params({})
    min_side = pipeline.min_side(["classify"])
    decoded = [decode_image(p, min_side=min_side) for p in photos]
    t_decode = _median_time(lambda: [decode_image(p, min_side=min_side) for p in photos], repeats, device)
    pool = ThreadPoolExecutor(os.cpu_count() or 1)
    t_decode_pool = _median_time(
        lambda: list(pool.map(lambda p: decode_image(p, min_side=min_side), photos)), repeats, device
    )
    with torch.inference_mode():
        batch = adapter.preprocess(decoded, params)
        raw = adapter.forward(batch, params)
        t_pre = _median_time(lambda: adapter.preprocess(decoded, params), repeats, device)
        t_fwd = _median_time(lambda: adapter.forward(batch, params), repeats, device)
        t_post = _median_time(lambda: adapter.postprocess(raw, decoded, params), repeats, device)
        net_input = batch.to(device)
        t_raw = _median_time(lambda: adapter.net(net_input), repeats, device)
    n = len(photos)
    row("decode through the image door, 1 thread", n / t_decode, "img/s")
    row(f"decode through the image door, {os.cpu_count()} threads", n / t_decode_pool, "img/s")
    if device.startswith("cuda"):
        from torchvision.io import decode_jpeg

        tensors = [torch.frombuffer(bytearray(p), dtype=torch.uint8) for p in photos]
        decode_jpeg(tensors[:2], device=device)
        t_nv = _median_time(lambda: decode_jpeg(tensors, device=device), repeats, device)
        row(
            "decode with nvJPEG (torchvision.io.decode_jpeg on the GPU, batch)",
            n / t_nv,
            "img/s",
            "(not wired into the door)",
        )
    row("preprocess (upload, resize, crop, normalise on the device)", t_pre * 1000, "ms")
    row("forward (+ softmax, copy back)", t_fwd * 1000, "ms")
    row("postprocess (top-k to results)", t_post * 1000, "ms")
    row("raw forward alone (tensors already on the device)", n / t_raw, "img/s")
    t_engine = _median_time(lambda: pipeline.annotate_decoded(decoded, [["classify"]] * n), repeats, device)
    row(
        "engine on pre-decoded images (preprocess+forward+postprocess)",
        n / t_engine,
        "img/s",
        f"= {t_raw / t_engine:.2f} of the raw forward",
    )

    # --- faces: before and after ------------------------------------------------------------
    print("faces (MTCNN), same photos:")
    faces = models["faces"].adapter
    face_decoded = [decode_image(p, min_side=faces.min_side) for p in photos]
    mtcnn = faces.mtcnn
    t_before = _median_time(lambda: [mtcnn.detect(d.image, landmarks=True) for d in face_decoded], repeats, device)
    t_after = _median_time(lambda: pipeline.annotate_decoded(face_decoded, [["faces"]] * n), repeats, device)
    before = [mtcnn.detect(d.image, landmarks=True) for d in face_decoded]
    after = pipeline.annotate_decoded(face_decoded, [["faces"]] * n)
    kept = [sum(1 for p in (probs if boxes is not None else []) if p >= 0.9) for boxes, probs, _ in before]
    same = sum(k == len(a.results["faces"].faces) for k, a in zip(kept, after))
    print(f"  check: face counts equal on {same}/{n} photos (facenet-pytorch vs engine, score >= 0.9)")
    row("facenet-pytorch MTCNN.detect, one image at a time (before)", n / t_before, "img/s")
    row("engine: batched MTCNN, attributes, results (after)", n / t_after, "img/s", f"= {t_before / t_after:.1f}x")
    prop_decoded = [decode_image(p, min_side=pipeline.min_side(["properties"])) for p in photos]
    t_props = _median_time(lambda: pipeline.annotate_decoded(prop_decoded, [["properties"]] * n), repeats, device)
    row("properties through the engine", n / t_props, "img/s")

    # --- task sets: batches vs concurrent one-image callers ---------------------------------
    counts = [int(c) for c in callers.split(",") if c.strip()]
    for label, tasks in (("classify", "classify"), ("faces", "faces"), ("all tasks", all_tasks)):
        print(f"{label} ({tasks}):")
        task_list = tasks.split(",")
        pre = [pipeline.decode(p, task_list) for p in photos]
        t_batch = _median_time(lambda pre=pre, ts=task_list: pipeline.annotate_decoded(pre, [ts] * n), repeats, device)
        row("one caller, batches of pre-decoded images", n / t_batch, "img/s")
        t_bytes = _median_time(lambda tasks=tasks: pipeline.annotate(photos, tasks=tasks), repeats, device)
        row("one caller, batches of JPEG bytes (decode in the caller)", n / t_bytes, "img/s")
        with ThreadPoolExecutor(8) as senders:
            chunk = max(1, n // 8)

            def send_all(tasks: str = tasks, chunk: int = chunk) -> list:
                return list(
                    senders.map(lambda i: pipeline.annotate(photos[i : i + chunk], tasks=tasks), range(0, n, chunk))
                )

            t_bytes8 = _median_time(
                send_all,
                repeats,
                device,
            )
        row("8 callers, batches of JPEG bytes (decode in parallel)", n / t_bytes8, "img/s")
        for count in counts:
            rates = [callers_rate(pipeline, photos, tasks, count, calls) for _ in range(repeats)]
            rate = statistics.median(r[0] for r in rates)
            p50 = statistics.median(r[1] for r in rates)
            row(f"{count} concurrent callers, ONE image per call", rate, "img/s", f"p50 {p50 * 1000:.0f} ms per call")
    stats = {
        task: (w.stats.batches, w.stats.images, w.stats.largest_batch, len(w.stats.thread_names))
        for task, w in pipeline.engine.workers.items()
    }
    print("engine workers (batches, images, largest batch, threads):", stats)


if __name__ == "__main__":
    app()
