"""Benchmark: images/s of one task on the bundled photos, for whichever tree is on the path.

    .venv/bin/python benchmarks/task_rate.py --task faces [--copies 1] [--repeats 3] [--answers out.json]

Prints one JSON line: images/s (median of ``--repeats``) for

  bytes    Pipeline.annotate on the encoded photos (decoding included), one call;
  decoded  Pipeline.annotate_decoded on photos decoded beforehand;

and, with ``--answers``, writes each photo's wire answer for the task so two trees can be
compared. The script uses only what the pipeline offered before the engine existed
(``registry.catalog.build_local_pipeline``, ``Pipeline.decode/annotate/annotate_decoded``), so
``benchmarks/compare_trees.py`` can run it on an older commit (PYTHONPATH set to that tree)
as well as on this one. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import typer

app = typer.Typer(add_completion=False)


@app.command()
def main(
    task: str = typer.Option(..., help="the task to measure"),
    copies: int = typer.Option(1, help="the bundled photos, this many times over"),
    repeats: int = typer.Option(3, help="timed calls (the median is printed)"),
    answers: str | None = typer.Option(None, help="write {photo: answer} for the task here"),
) -> None:
    from vision.settings import apply_offline_env

    apply_offline_env()
    import vision
    from registry.catalog import build_local_pipeline
    from vision.samples import sample_photos

    pipeline = build_local_pipeline(tasks=[task])
    photos = sample_photos()
    encoded = [path.read_bytes() for path in photos.values()] * copies
    decoded = [pipeline.decode(data, [task]) for data in encoded]
    rows = [[task]] * len(decoded)

    def rate(call) -> float:
        call()  # warm-up: workers, first-call allocations
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return len(encoded) / statistics.median(times)

    figures = {
        "tree": str(vision.__file__).rsplit("/vision/", 1)[0],
        "task": task,
        "images": len(encoded),
        "bytes": rate(lambda: pipeline.annotate(encoded, tasks=task)),
        "decoded": rate(lambda: pipeline.annotate_decoded(decoded, rows)),
    }
    if answers:
        wire = [a.to_wire().get(task) for a in pipeline.annotate(encoded[: len(photos)], tasks=task)]
        with open(answers, "w") as out:
            json.dump(dict(zip(photos, wire)), out)
    json.dump(figures, sys.stdout)
    print()


if __name__ == "__main__":
    app()
