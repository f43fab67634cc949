"""Benchmark the REST endpoint, two ratios of medians measured in one run on the same photos:

(a) one router request asking 4 tasks  vs  4 requests to 4 single-model `mlflow models serve`
    endpoints (the plain-MLflow way: one server per model, the client calls each in turn);
(b) HTTP throughput of the router at concurrency 4  vs  in-process `predict` throughput.

    .venv/bin/python benchmarks/serve_bench.py [--rounds 5]

Uses the registry in IDAAS_HOME (bootstraps and promotes the offline set and the router first,
like `make demo`). Not a test: the figures depend on the machine; quote the medians.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import mlflow.pyfunc
import pandas as pd
import typer

from registry.store import configure
from serving.client import IdaasClient
from serving.demo import prepare_router
from serving.server import running_server
from vision.samples import sample_photos
from vision.settings import apply_offline_env

PHOTOS = ("bus.jpg", "zidane.jpg", "grace_hopper.jpg", "coffee.png", "page.png", "chelsea.png")
SINGLE = {
    "classify": "classify-mobilenet-v2",
    "faces": "faces-mtcnn",
    "ocr": "ocr-rapidocr",
    "properties": "properties",
}
TASKS = ",".join(SINGLE)


app = typer.Typer(add_completion=False)


@app.command()
def main(rounds: int = typer.Option(5, help="times each photo is sent")) -> None:
    apply_offline_env()
    configure()
    router_version = prepare_router(lambda line: None)
    photos = {n: p.read_bytes() for n, p in sample_photos().items() if n in PHOTOS}
    with ExitStack() as stack:
        router = IdaasClient(stack.enter_context(running_server(f"models:/idaas/{router_version}")))
        # The single-model servers are the plain-MLflow way, so plain `mlflow models serve`.
        singles = {
            task: IdaasClient(stack.enter_context(running_server(f"models:/{name}@production", plain_mlflow=True)))
            for task, name in SINGLE.items()
        }
        for client in [router, *singles.values()]:  # warm-up: first calls load lazily-built state
            client.annotate([photos["bus.jpg"]])

        # (a) per photo: one 4-task router request vs 4 single-model requests, interleaved.
        router_t, plain_t = [], []
        for _ in range(rounds):
            for name, data in photos.items():
                start = time.perf_counter()
                router.annotate([data], ids=[name], tasks=TASKS)
                router_t.append(time.perf_counter() - start)
                start = time.perf_counter()
                for client in singles.values():
                    client.annotate([data], ids=[name])
                plain_t.append(time.perf_counter() - start)
        a_router, a_plain = statistics.median(router_t), statistics.median(plain_t)

        # (b) throughput over the same photos: 4 concurrent HTTP clients vs in-process predict.
        work = [(n, d) for _ in range(rounds) for n, d in photos.items()]
        model = mlflow.pyfunc.load_model(f"models:/idaas/{router_version}")
        model.predict(pd.DataFrame({"id": ["w"], "image": [photos["bus.jpg"]]}), params={"tasks": TASKS})
        http_rates, local_rates = [], []
        for _ in range(3):
            start = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda item: router.annotate([item[1]], ids=[item[0]], tasks=TASKS), work))
            http_rates.append(len(work) / (time.perf_counter() - start))
            start = time.perf_counter()
            for name, data in work:
                model.predict(pd.DataFrame({"id": [name], "image": [data]}), params={"tasks": TASKS})
            local_rates.append(len(work) / (time.perf_counter() - start))
        b_http, b_local = statistics.median(http_rates), statistics.median(local_rates)

    print(f"photos: {', '.join(photos)}; tasks: {TASKS}; {rounds} rounds")
    print(f"(a) router, 1 request x 4 tasks     median {a_router * 1000:8.1f} ms per photo")
    print(f"    4 single-model servers, 4 calls median {a_plain * 1000:8.1f} ms per photo")
    print(f"    ratio (plain / router): {a_plain / a_router:.2f}x")
    print(f"(b) HTTP, concurrency 4             median {b_http:6.2f} images/s")
    print(f"    in-process predict              median {b_local:6.2f} images/s")
    print(f"    ratio (HTTP / in-process): {b_http / b_local:.2f}")


if __name__ == "__main__":
    app()
