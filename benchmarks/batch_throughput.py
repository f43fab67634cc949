"""Benchmark: `idaas score`'s engine end to end vs the bare model forward, on the same images.

    .venv/bin/python benchmarks/batch_throughput.py [--task classify] [--model URI] [--repeats 3]

Images: the bundled photos plus augmented copies (serving/batch/sample_corpus.py, 208 files of
mixed formats and sizes). Three figures, each from the fastest of ``--repeats`` interleaved runs
(on a shared machine the fastest run is the one least disturbed by other work; medians are
printed too):

  score    images/s of serving.batch.scorer.score: listing, reading, decoding (thread pool,
           overlapped with inference), preprocessing, forward, postprocessing, Parquet chunks
           and the final file;
  forward  images/s of the adapter's forward alone on tensors decoded and preprocessed
           beforehand, in the batches the adapter uses;
  ratio    score / forward: 1.0 means reading, decoding, preprocessing and writing cost
           nothing visible.
For reference it also prints the model's whole step on pre-decoded images (preprocess +
forward + postprocess, Pipeline.annotate_decoded): score / that is what reading, decoding and
writing cost.

The model is the catalog's offline model for ``--task`` (the adapters a registered version
loads), or a registered idaas model with ``--model``. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import typer

from vision.settings import apply_offline_env

app = typer.Typer(add_completion=False)


@app.command()
def main(
    task: str = typer.Option("classify", help="the task whose model is measured"),
    model: str | None = typer.Option(None, help="a registered idaas model URI (default: the catalog's model)"),
    repeats: int = typer.Option(5, help="interleaved runs of each figure"),
    batch_size: int = typer.Option(32, help="images per scorer batch (as `idaas score`)"),
    workers: int | None = typer.Option(None, help="decoding threads (default as `idaas score`)"),
) -> None:
    settings = apply_offline_env()

    import torch

    from serving.batch.sample_corpus import make_corpus
    from serving.batch.scorer import load_pipeline, score
    from serving.batch.sources import from_folder

    if model:
        pipeline, label = load_pipeline(model), model
    else:
        from registry.catalog import build_local_pipeline

        pipeline, label = build_local_pipeline(tasks=[task]), f"catalog model for {task}"
    adapter = pipeline.models[task].adapter
    corpus = settings.home / "bench" / "batch-corpus"
    make_corpus(corpus)
    inputs = from_folder(corpus)
    n = len(inputs.items)

    # Pre-decoded, pre-processed tensors for the bare forward, at the size the scorer decodes to.
    params = adapter.resolve_params({})
    decoded = [pipeline.decode(Path(item.source), [task], allow_path=True) for item in inputs.items]
    batches = [adapter.preprocess(decoded[i : i + adapter.batch_size], params) for i in range(0, n, adapter.batch_size)]

    def forward() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                adapter.forward(batch, params)
        return time.perf_counter() - start

    def model_on_decoded() -> float:
        start = time.perf_counter()
        for i in range(0, n, batch_size):
            batch = decoded[i : i + batch_size]
            pipeline.annotate_decoded(batch, [[task]] * len(batch))
        return time.perf_counter() - start

    def scorer(out_dir: Path) -> float:
        out = out_dir / f"scores-{time.perf_counter_ns()}.parquet"
        start = time.perf_counter()
        score(
            inputs,
            out,
            model=label,
            tasks=task,
            pipeline=pipeline,
            batch_size=batch_size,
            workers=workers,
            progress=False,
        )
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="idaas-bench-", dir=settings.home) as tmp:
        forward(), scorer(Path(tmp))  # warm-up: first-call allocations, page cache
        timings: dict[str, list[float]] = {"score": [], "forward": [], "model": []}
        for _ in range(repeats):  # interleaved, so machine noise hits all alike
            timings["score"].append(scorer(Path(tmp)))
            timings["forward"].append(forward())
            timings["model"].append(model_on_decoded())
    ips = {k: n / min(v) for k, v in timings.items()}
    median = {k: n / statistics.median(v) for k, v in timings.items()}
    print(
        f"model: {label} ({type(adapter).__name__}, batch {adapter.batch_size}, device {adapter.device}, "
        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs)"
    )
    print(f"images: {n} files in {corpus} (decoded for {task} at shorter side >= {pipeline.min_side([task])})")
    print(f"best of {repeats} runs (medians in brackets):")
    print(f"idaas score engine  {ips['score']:8.1f} images/s  [{median['score']:.1f}]  read, decode, answer, write")
    print(f"bare model forward  {ips['forward']:8.1f} images/s  [{median['forward']:.1f}]  pre-decoded tensors")
    print(f"ratio score/forward {ips['score'] / ips['forward']:8.2f}   [{median['score'] / median['forward']:.2f}]")
    print(
        f"for reference, the model on pre-decoded images (preprocess + forward + postprocess): "
        f"{ips['model']:.1f} images/s [{median['model']:.1f}]; score / that {ips['score'] / ips['model']:.2f}"
    )


if __name__ == "__main__":
    app()
