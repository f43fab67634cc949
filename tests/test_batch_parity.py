"""One router version, four ways in: `idaas score`, in-process predict, REST and Spark give
the same answers for the same images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest

from serving.batch.records import to_wire
from serving.batch.sample_corpus import make_corpus
from serving.client import IdaasClient

pytestmark = pytest.mark.slow

# Every format and orientation of the corpus, answered by the fast tasks ...
FAST_SET = [
    "bus/orig.png",
    "bus/exif-rot.jpg",
    "coffee/webp.webp",
    "chelsea/crop-centre.jpg",
    "zidane/hflip.jpg",
    "grace_hopper/half.jpg",
    "astronaut/bmp.bmp",
    "page/gray.jpg",
    "rocket/jpeg-q40.jpg",
    "china/crop-bottom-right.webp",
    "flower/rot90.jpg",
    "broken/truncated.jpg",
]
FAST_TASKS = "classify,properties"
# ... and every task of the router (faces, OCR, describe too) on a few.
ALL_SET = ["bus/orig.png", "page/orig.png", "zidane/jpeg-q95.jpg", "broken/not-an-image.jpg"]


@pytest.fixture(scope="module")
def corpus(idaas_home) -> Path:
    folder = idaas_home / "batch-corpus"
    make_corpus(folder, broken=True)
    return folder


@pytest.fixture(scope="module")
def model_uri(router_version) -> str:
    return f"models:/idaas/{router_version}"


def _without_id(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "id"}


def _by_cli(corpus: Path, names: list[str], tasks: str | None, model_uri: str, tmp: Path) -> dict[str, dict]:
    manifest = tmp / "manifest.csv"
    pd.DataFrame({"id": names, "path": [str(corpus / n) for n in names]}).to_csv(manifest, index=False)
    out = tmp / "scored.parquet"
    args = ["score", str(manifest), "-o", str(out), "--model", model_uri, "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-m", "idaas", *args, *(["--tasks", tasks] if tasks else [])],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [to_wire(r) for r in pd.read_parquet(out).to_dict("records")]
    assert [r["id"] for r in rows] == names
    return {name: _without_id(row) for name, row in zip(names, rows)}


def _in_process(corpus: Path, names: list[str], tasks: str | None, model_uri: str) -> dict[str, dict]:
    model = mlflow.pyfunc.load_model(model_uri)
    frame = pd.DataFrame({"id": names, "image": [(corpus / n).read_bytes() for n in names]})
    rows = model.predict(frame, params={"tasks": tasks} if tasks else None)
    return {row["id"]: _without_id(row) for row in rows}


def _rest(url: str, corpus: Path, names: list[str], tasks: str | None) -> dict[str, dict]:
    rows = IdaasClient(url).annotate_raw([(corpus / n).read_bytes() for n in names], ids=names, tasks=tasks)
    return {row["id"]: _without_id(row) for row in rows}


def _spark(spark, corpus: Path, names: list[str], tasks: str | None, model_uri: str) -> dict[str, dict]:
    from serving.spark_scoring import score_spark

    images = spark.read.format("binaryFile").load([str(corpus / n) for n in names])
    scored = score_spark(images, model_uri, tasks=tasks).toPandas()
    out = {}
    for record in scored.to_dict("records"):
        name = Path(record["path"].removeprefix("file:")).relative_to(corpus).as_posix()
        row = to_wire({**record, "id": record["path"]})
        out[name] = _without_id(row)
    assert sorted(out) == sorted(names)
    return out


@pytest.fixture(scope="module")
def spark():
    from serving.spark_scoring import local_spark

    session = local_spark("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def answers(corpus, model_uri, router_url, spark, tmp_path_factory) -> dict[str, dict[str, dict[str, dict]]]:
    """For each image set: way in -> image -> wire row (without its id)."""
    out = {}
    for label, names, tasks in (("fast", FAST_SET, FAST_TASKS), ("all", ALL_SET, None)):
        out[label] = {
            "idaas score": _by_cli(corpus, names, tasks, model_uri, tmp_path_factory.mktemp(f"cli-{label}")),
            "in-process": _in_process(corpus, names, tasks, model_uri),
            "REST": _rest(router_url, corpus, names, tasks),
            "Spark": _spark(spark, corpus, names, tasks, model_uri),
        }
    return out


@pytest.mark.parametrize("image_set", ["fast", "all"])
def test_every_way_in_gives_the_same_answers(answers, image_set):
    ways = answers[image_set]
    reference = ways["in-process"]
    for way, rows in ways.items():
        for name in reference:
            assert rows[name] == reference[name], f"{way} differs from in-process on {name}"


def test_the_answers_are_real(answers, router_version):
    fast, every = answers["fast"]["in-process"], answers["all"]["in-process"]
    assert fast["coffee/webp.webp"]["classify"]["labels"][0]["label"] == "espresso"
    assert (fast["bus/exif-rot.jpg"]["width"], fast["bus/exif-rot.jpg"]["height"]) == (810, 1080)
    assert fast["broken/truncated.jpg"]["error"]["code"] == "truncated_image"
    assert set(fast["bus/orig.png"]) >= {"classify", "properties"} and "faces" not in fast["bus/orig.png"]
    assert len(every["bus/orig.png"]["faces"]["faces"]) == 2
    assert "segmentation" in every["page/orig.png"]["ocr"]["text"].lower()
    assert every["broken/not-an-image.jpg"]["error"]["code"] == "not_an_image"
    assert {"classify", "faces", "ocr", "properties", "describe"} <= set(every["bus/orig.png"]["models"])


def _source_rows(frame: pd.DataFrame) -> dict[str, dict]:
    rows = [to_wire(r) for r in frame.to_dict("records")]
    return {row["id"]: _without_id(row) for row in rows}


def test_missing_unreadable_uri_and_manifest_rows_agree_every_batch_way_in(corpus, model_uri, spark, tmp_path):
    """One manifest (a path, a file:// URI, a missing file, a folder, an empty cell) gives the
    same rows and error codes through `idaas score`, the notebook API and Spark."""
    from serving.notebook_api import score as notebook_score
    from serving.spark_scoring import score_spark

    manifest = pd.DataFrame(
        {
            "id": ["path", "uri", "missing", "folder", "empty"],
            "path": [
                str(corpus / "coffee/webp.webp"),
                (corpus / "bus/orig.png").as_uri(),
                str(corpus / "no/such.jpg"),
                str(corpus / "bus"),
                "",
            ],
        }
    )
    manifest_file = tmp_path / "manifest.csv"
    manifest.to_csv(manifest_file, index=False)
    tasks = "classify"

    out = tmp_path / "scored.parquet"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "idaas",
            "score",
            str(manifest_file),
            "-o",
            str(out),
            "--model",
            model_uri,
            "--tasks",
            tasks,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ways = {
        "idaas score": _source_rows(pd.read_parquet(out)),
        "notebook": _source_rows(notebook_score(manifest_file, model_uri, tasks=tasks)),
        "Spark": _source_rows(
            score_spark(spark.createDataFrame(manifest.fillna("")), model_uri, tasks=tasks, id_col="id").toPandas()
        ),
    }
    codes = {way: {k: (row.get("error") or {}).get("code") for k, row in rows.items()} for way, rows in ways.items()}
    assert codes["idaas score"] == {
        "path": None,
        "uri": None,
        "missing": "file_not_found",
        "folder": "unreadable_file",
        "empty": "empty_input",
    }, codes
    for way, rows in ways.items():
        assert codes[way] == codes["idaas score"], way
        for key in ("path", "uri"):
            assert rows[key]["classify"] == ways["idaas score"][key]["classify"], (way, key)
    assert ways["notebook"]["path"]["classify"]["labels"][0]["label"] == "espresso"
