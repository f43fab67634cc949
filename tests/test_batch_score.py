"""`idaas score`: sources, atomic chunks, one row per input on 200+ real photos, resume after kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from serving.batch.parquet_sink import RunStore, read_run_metadata
from serving.batch.records import to_record
from serving.batch.sample_corpus import BROKEN, make_corpus
from serving.batch.sources import discover, from_folder, from_manifest
from vision.errors import BadRequestError, IdaasError

TASKS = "classify,properties"  # fast on a CPU; faces and OCR are covered on a few images in the parity test


@pytest.fixture(scope="module")
def corpus(idaas_home) -> Path:
    folder = idaas_home / "batch-corpus"
    make_corpus(folder, broken=True)
    return folder


def _idaas(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idaas", *args], capture_output=True, text=True, timeout=timeout)


# --- sources ---------------------------------------------------------------------------------
def test_folder_is_recursive_and_skips_hidden_and_non_images(tmp_path, corpus):
    (tmp_path / "a" / "b").mkdir(parents=True)
    photo = next(corpus.glob("coffee/*.jpg")).read_bytes()
    (tmp_path / "a" / "b" / "deep.JPG").write_bytes(photo)
    (tmp_path / "top.jpg").write_bytes(photo)
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "thumb.jpg").write_bytes(photo)
    inputs = from_folder(tmp_path)
    assert [i.id for i in inputs.items] == ["a/b/deep.JPG", "top.jpg"]
    assert all(Path(i.source).is_absolute() for i in inputs.items)
    assert len(from_folder(corpus).items) == 208 + len(BROKEN)


def test_glob_and_dispatch(tmp_path, corpus):
    inputs = discover(str(corpus / "bus" / "*.jpg"))
    assert inputs.items and all(i.id.endswith(".jpg") and "/bus/" in i.source for i in inputs.items)
    assert len(discover(str(corpus / "**" / "orig.png")).items) == 13
    with pytest.raises(BadRequestError, match="not a folder, a manifest"):
        discover(str(tmp_path / "missing"))


def test_manifest_carries_metadata_and_resolves_paths(tmp_path, corpus):
    coffee = corpus / "coffee" / "orig.png"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.png").write_bytes(coffee.read_bytes())
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        {
            "id": ["007", "008", "009", "010", "011"],
            "uri": [str(coffee), "sub/c.png", coffee.as_uri(), "", str(coffee)],
            "user_id": [1, 2, 3, 4, 1],
            "likes": [0.5, 1.5, None, 2.0, 0.5],
            "width": ["w1", "w2", "w3", "w4", "w5"],  # clashes with an output column
        }
    ).to_csv(manifest, index=False)
    inputs = from_manifest(manifest)
    assert [i.id for i in inputs.items] == ["007", "008", "009", "010", "011"]  # ids stay text
    assert inputs.items[1].source == str((tmp_path / "sub" / "c.png").resolve())
    assert inputs.items[2].source == str(coffee)  # file:// URI -> local path
    assert inputs.items[3].source == ""
    assert len({i.key for i in inputs.items}) == 5
    assert list(inputs.metadata.columns) == ["user_id", "likes", "input_width"]
    assert inputs.metadata["user_id"].dtype.kind == "i" and inputs.metadata["likes"].dtype.kind == "f"

    parquet = tmp_path / "m.parquet"
    pd.DataFrame({"file": [str(coffee)] * 2, "photo": ["x", "x"]}).to_parquet(parquet)
    twice = from_manifest(parquet, id_column="photo")
    assert len({i.key for i in twice.items}) == 2  # the same row listed twice is two inputs
    with pytest.raises(BadRequestError, match="no path column"):
        pd.DataFrame({"a": [1]}).to_csv(tmp_path / "bad.csv", index=False)
        from_manifest(tmp_path / "bad.csv")


# --- chunks and assembly -----------------------------------------------------------------------
def _fake_record(i: int) -> dict:
    wire = {
        "id": f"p{i}",
        "width": 10 + i,
        "height": 20,
        "classify": {"labels": [{"label": "x", "score": 0.5}]},
        "models": {"classify": "m/1"},
        "error": None,
    }
    return to_record(wire, ["classify"], path=f"/p{i}.jpg")


def test_chunks_resume_and_assemble_in_input_order(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(b"x")
    inputs = from_folder(folder)
    out = tmp_path / "out.parquet"
    store = RunStore(out)
    state = {"model": "models:/m@production", "tasks": ["classify"], "params": {}, "model_version": "models:/m/1"}
    store.begin(state)
    keys = [i.key for i in inputs.items]
    store.write_chunk(keys[3:5], [_fake_record(3), _fake_record(4)], ["classify"])
    store.write_chunk(keys[0:2], [_fake_record(0), _fake_record(1)], ["classify"])
    (store.parts / ".chunk-000009.parquet.tmp").write_bytes(b"half a chunk")  # died mid-write
    with pytest.raises(IdaasError, match="no row yet"):
        store.assemble(inputs.items, None, ["classify"], {})
    assert not out.exists()

    again = RunStore(out)
    assert again.check_resumable({"model": "models:/m@production", "tasks": ["classify"], "params": {}})
    with pytest.raises(BadRequestError, match="--restart"):
        again.check_resumable({"model": "models:/m@production", "tasks": ["faces"], "params": {}})
    again.begin(state)
    assert not list(again.parts.glob(".*.tmp"))
    assert again.done_keys() == set(keys[0:2] + keys[3:5])
    again.write_chunk(keys[2:3], [_fake_record(2)], ["classify"])
    table = again.assemble(inputs.items, None, ["classify"], {"model_version": "models:/m/1"})
    assert table.column("id").to_pylist() == [f"p{i}" for i in range(5)]
    assert pq.read_table(out).num_rows == 5 and not again.parts.exists()
    assert read_run_metadata(out)["model_version"] == "models:/m/1"
    with pytest.raises(BadRequestError, match="already exists"):
        RunStore(out).begin(state)


# --- end to end on 213 real files ----------------------------------------------------------------
@pytest.fixture(scope="module")
def manifest(corpus, tmp_path_factory) -> Path:
    """Every corpus file plus two that do not exist, with metadata columns to carry through."""
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    paths = [str(p) for p in files] + [str(corpus / "gone" / "a.jpg"), str(corpus / "gone" / "b.png")]
    frame = pd.DataFrame(
        {
            "path": paths,
            "photo_id": [f"ph-{i:04d}" for i in range(len(paths))],
            "user_id": [i % 17 for i in range(len(paths))],
            "uploaded": pd.date_range("2024-01-01", periods=len(paths), freq="h"),
            "caption": [f"caption {i} — «ü»" for i in range(len(paths))],
        }
    )
    path = tmp_path_factory.mktemp("manifest") / "photos.parquet"
    frame.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def uninterrupted(manifest, router_version, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("scored") / "full.parquet"
    done = _idaas(
        "score",
        str(manifest),
        "-o",
        str(out),
        "--model",
        f"models:/idaas/{router_version}",
        "--tasks",
        TASKS,
        "--id-column",
        "photo_id",
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


@pytest.mark.slow
def test_one_row_per_input_with_metadata_and_error_codes(uninterrupted, manifest, router_version):
    out, done = uninterrupted
    source = pd.read_parquet(manifest)
    scored = pd.read_parquet(out)
    assert len(scored) == len(source) == 215
    assert scored["id"].tolist() == source["photo_id"].tolist()  # input order, ids carried
    assert scored["path"].tolist() == source["path"].tolist()
    for column in ("user_id", "uploaded"):
        assert scored[column].tolist() == source[column].tolist(), column
    assert scored["input_caption"].tolist() == source["caption"].tolist()  # "caption" is a task's column
    assert list(scored.columns) == [
        "id",
        "path",
        "width",
        "height",
        "error_code",
        "error_message",
        "classify",
        "properties",
        "models",
        "user_id",
        "uploaded",
        "input_caption",
    ]

    by_name = dict(zip(scored["path"], scored.to_dict("records")))
    corpus = Path(source["path"].iloc[0]).parent.parent
    for name, code in BROKEN.items():
        row = by_name[str(corpus / name)]
        assert row["error_code"] == code and row["error_message"], name
        assert pd.isna(row["classify"]) and row["models"] == "{}"
    for missing in ("gone/a.jpg", "gone/b.png"):
        assert by_name[str(corpus / missing)]["error_code"] == "file_not_found"
    good = scored[scored["error_code"].isna()]
    assert len(good) == 208
    assert (good["width"] > 0).all() and (good["height"] > 0).all()
    models = {json.dumps(json.loads(m), sort_keys=True) for m in good["models"]}
    assert len(models) == 1
    refs = json.loads(models.pop())
    assert set(refs) == {"classify", "properties"} and all(r.split("/")[1].isdigit() for r in refs.values())
    coffee = json.loads(by_name[str(corpus / "coffee" / "orig.png")]["classify"])
    assert coffee["labels"][0]["label"] == "espresso"
    bus = by_name[str(corpus / "bus" / "exif-rot.jpg")]
    assert (bus["width"], bus["height"]) == (810, 1080)  # stored sideways, answered upright

    assert read_run_metadata(out)["model_version"] == f"models:/idaas/{router_version}"
    summary = done.stdout
    assert "rows: 215" in summary and "ok                 208" in summary
    assert "file_not_found     2" in summary and "truncated_image    1" in summary
    assert f"output: {out}" in summary and "images/s" in summary


def _start_and_stop_after(args: list[str], parts: Path, chunks: int, sig: int) -> subprocess.CompletedProcess:
    """Start `idaas ARGS`, wait until ``chunks`` chunk files exist, then send ``sig``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "idaas", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    try:
        while len(list(parts.glob("chunk-*.parquet"))) < chunks:
            assert process.poll() is None, f"the scorer ended before it could be stopped: {process.stderr.read()}"
            assert time.monotonic() < deadline, "no chunk appeared"
            time.sleep(0.05)
    finally:
        process.send_signal(sig)
        out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
def test_resume_after_ctrl_c_and_sigkill_gives_every_row_once_and_the_same_answers(
    uninterrupted, manifest, router_version, tmp_path
):
    baseline = pd.read_parquet(uninterrupted[0])
    out = tmp_path / "resumed.parquet"
    parts = out.with_name(out.name + ".parts")
    args = [
        "score",
        str(manifest),
        "-o",
        str(out),
        "--model",
        f"models:/idaas/{router_version}",
        "--tasks",
        TASKS,
        "--id-column",
        "photo_id",
        "--chunk-size",
        "32",
        "--no-progress",
    ]

    interrupted = _start_and_stop_after(args, parts, 1, signal.SIGINT)  # Ctrl-C
    assert interrupted.returncode == 130, interrupted.stderr[-2000:]
    assert "interrupted:" in interrupted.stderr and "run the same command again" in interrupted.stderr
    assert "Traceback" not in interrupted.stderr
    after_ctrl_c = len(RunStore(out).done_keys())

    killed = _start_and_stop_after(args, parts, len(list(parts.glob("chunk-*.parquet"))) + 2, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists()  # the final file appears only when everything is done
    saved = RunStore(out).done_keys()
    assert after_ctrl_c + 64 <= len(saved) < 215

    again = _idaas(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed: {len(saved)} rows were already done" in again.stdout
    assert "resuming the unfinished run" in again.stderr
    resumed = pd.read_parquet(out)
    assert resumed["id"].is_unique and len(resumed) == 215
    pd.testing.assert_frame_equal(resumed, baseline)
    assert not parts.exists()


@pytest.mark.slow
def test_cli_refuses_to_overwrite_or_mix_runs_without_a_traceback(uninterrupted, corpus, tmp_path):
    out, _ = uninterrupted
    again = _idaas("score", str(corpus / "coffee"), "-o", str(out), "--no-progress")
    assert again.returncode == 1
    assert "already exists" in again.stderr and "--overwrite" in again.stderr and "Traceback" not in again.stderr

    parts = tmp_path / "x.parquet.parts"
    parts.mkdir()
    (parts / "state.json").write_text(
        json.dumps({"model": "models:/idaas/1", "tasks": ["faces"], "params": {}, "model_version": "models:/idaas/1"})
    )
    mixed = _idaas(
        "score",
        str(corpus / "coffee"),
        "-o",
        str(tmp_path / "x.parquet"),
        "--model",
        "models:/idaas/1",
        "--tasks",
        "classify",
        "--no-progress",
    )
    assert mixed.returncode == 1 and "--restart" in mixed.stderr and "Traceback" not in mixed.stderr
    bad = _idaas(
        "score", str(corpus / "coffee"), "-o", str(tmp_path / "y.parquet"), "--tasks", "teleport", "--no-progress"
    )
    assert bad.returncode == 1 and "unknown task" in bad.stderr and "Traceback" not in bad.stderr
