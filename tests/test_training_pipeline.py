"""The training pipeline end to end: `dvc repro` with tiny settings in a copy of the pipeline
files and the code it runs (the repository's own dvc.lock stays untouched), registering two
candidates into the session's registry; then what a user relies on: the runs behind the
versions, a no-op second repro, a second run from scratch giving the same metrics, the
candidates answering a real photo, plain errors for bad parameters, and the same stage through
`mlflow run`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# dvc.yaml's deps name modules of training/, registry/ and vision/: the copy holds them all.
PIPELINE_FILES = ("dvc.yaml", "params.yaml", "MLproject", "training", "registry", "vision")
# Small enough for about two minutes of `dvc repro` on 2 CPU cores.
TINY = {
    "data.classify.train_per_class": 20,
    "data.classify.val_per_class": 5,
    "data.classify.test_per_class": 20,
    "data.detect.train_images": 24,
    "data.detect.val_images": 8,
    "data.detect.test_images": 8,
    "data.detect.image_size": 96,
    "data.detect.object_size": [24, 48],
    "classifier.epochs": 1,
    "classifier.image_size": 32,
    "classifier.batch_size": 32,
    "detector.epochs": 1,
    "detector.imgsz": 96,
    "detector.batch": 8,
    "detector.workers": 0,
}
MODELS = {"classifier": ("classify", "top1_accuracy"), "detector": ("detect", "map50")}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `python` in dvc.yaml/MLproject is the venv's
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def _run(args: list[str], cwd: Path, timeout: int = 600, **env) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env={**_env(), **env}, capture_output=True, text=True, timeout=timeout)


def _tail(done: subprocess.CompletedProcess) -> str:
    return f"rc={done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _set(tree: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        tree = tree[key]
    tree[last] = value


def _fresh_pipeline(root: Path, *targets: str) -> Path:
    """A new pipeline folder with the tiny parameters, after `dvc repro` of ``targets`` (all by default)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for dotted, value in TINY.items():
        _set(params, dotted, value)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (
        ["git", "init", "-q"],
        [str(BIN / "dvc"), "init", "-q"],
        [str(BIN / "dvc"), "config", "core.analytics", "false"],
    ):
        done = _run(args, root)
        assert done.returncode == 0, _tail(done)
    done = _run([str(BIN / "dvc"), "repro", *targets], root)
    assert done.returncode == 0, _tail(done)
    return root


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    return _fresh_pipeline(tmp_path_factory.mktemp("pipeline"))


def _registered(root: Path) -> dict[str, dict]:
    return {entry["kind"]: entry for entry in json.loads((root / "reports/registered.json").read_text())}


def test_repro_registers_two_candidates_whose_runs_carry_metrics_plots_and_data(pipeline):
    from registry.reviews import current_review
    from registry.store import client as registry_client

    client = registry_client()
    metrics = json.loads((pipeline / "reports/metrics.json").read_text())
    lock = yaml.safe_load((pipeline / "dvc.lock").read_text())["stages"]
    prepared = {out["path"]: out["md5"] for out in lock["prepare"]["outs"]}
    registered = _registered(pipeline)
    assert set(registered) == {"classifier", "detector"}
    for kind, entry in registered.items():
        task, headline = MODELS[kind]
        data = pipeline / "data" / task
        dataset = json.loads((data / "dataset.json").read_text())
        assert entry["created"] and entry["alias"] == "candidate"
        version = client.get_model_version_by_alias(entry["name"], "candidate")
        assert str(version.version) == entry["version"]
        run = client.get_run(version.run_id)
        # The version lives in the training run: its parameters, curves, test metrics and plots.
        assert run.data.tags["idaas.stage"] == f"train_{kind}"
        assert any(key.startswith(f"{kind}.") for key in run.data.params)
        for name, value in metrics[kind].items():
            assert run.data.metrics[name] == pytest.approx(value, abs=1e-3), name
        epoch_metric = "train_loss" if kind == "classifier" else "val_map50"
        assert len(client.get_metric_history(run.info.run_id, epoch_metric)) == 1
        plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "evaluation")}
        expected = (
            {"classifier_confusion_matrix.png", "classifier_confusion.csv"}
            if kind == "classifier"
            else {"detector_pr_curve.csv", "detector_samples.jpg"}
        )
        assert expected <= plots
        # Its data: every split as a dataset input, digested as prepare wrote it, tagged with DVC's md5.
        inputs = {}
        for item in run.inputs.dataset_inputs:
            tags = {t.key: t.value for t in item.tags}
            inputs[tags["mlflow.data.context"]] = (item.dataset.digest, tags.get("dvc_md5"))
        test_split = dataset.get("eval_split", "test")
        assert inputs == {
            "training": (dataset["digests"]["train"], prepared[f"data/{task}"]),
            "validation": (dataset["digests"]["val"], prepared[f"data/{task}"]),
            "testing": (dataset["digests"][test_split], prepared[f"data/{task}"]),
        }
        # The draft review: prototype, the measured metrics, the data version and the run.
        review = current_review(entry["name"], entry["version"]).review
        assert review.decision == "prototype"
        assert review.metrics[headline] == pytest.approx(metrics[kind][headline], abs=1e-3)
        assert prepared[f"data/{task}"] in review.evaluation.version
        assert review.evaluation.size == metrics[kind]["test_images"]
        assert version.run_id in review.evaluation.description


def test_second_repro_does_no_work_and_dvc_reads_metrics_and_plots(pipeline):
    done = _run([str(BIN / "dvc"), "repro"], pipeline)
    assert done.returncode == 0, _tail(done)
    assert "Running stage" not in done.stdout
    assert "Data and pipelines are up to date" in done.stdout
    shown = _run([str(BIN / "dvc"), "metrics", "show", "--json"], pipeline)
    assert shown.returncode == 0, _tail(shown)
    assert "top1_accuracy" in shown.stdout and "map50" in shown.stdout
    plotted = _run([str(BIN / "dvc"), "plots", "show", "-o", "dvc_plots"], pipeline)
    assert plotted.returncode == 0, _tail(plotted)
    page = (pipeline / "dvc_plots" / "index.html").read_text()
    # the confusion matrix, the PR curve (as vega specs) and the rendered images are all on the page
    assert '"predicted"' in page and '"recall"' in page and '"epoch"' in page
    assert "classifier_confusion_matrix.png" in page and "detector_samples.jpg" in page


def _weights(root: Path, kind: str) -> dict:
    import torch

    if kind == "classifier":
        return torch.load(root / "models/classifier/weights.pth")
    # an Ultralytics checkpoint pickles the model (its EMA while training, the model once stripped)
    checkpoint = torch.load(root / "models/detector/weights.pt", map_location="cpu", weights_only=False)
    return (checkpoint.get("ema") or checkpoint["model"]).state_dict()


def test_a_second_run_from_scratch_gives_identical_metrics_and_weights(pipeline, tmp_path):
    import torch

    again = _fresh_pipeline(tmp_path / "again", "evaluate")  # everything but registering the same models twice
    first, second = (json.loads((root / "reports/metrics.json").read_text()) for root in (pipeline, again))
    assert first == second
    trained = {root: json.loads((root / "models/classifier/train.json").read_text()) for root in (pipeline, again)}
    histories = [trained[root]["history"] for root in (pipeline, again)]
    untimed = [[{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows] for rows in histories]
    assert untimed[0] == untimed[1]  # every epoch's losses and accuracies
    for kind in ("classifier", "detector"):
        first_tensors, second_tensors = (_weights(root, kind) for root in (pipeline, again))
        assert first_tensors.keys() == second_tensors.keys()
        assert all(torch.equal(first_tensors[k], second_tensors[k]) for k in first_tensors), kind
    # both trainings ran at params.yaml's thread count, whatever Ultralytics would pick for this machine
    threads = {kind: json.loads((again / f"models/{kind}/train.json").read_text())["cpu_threads"] for kind in MODELS}
    assert threads == {"classifier": 2, "detector": [2]}
    # the run records what its numbers depend on
    from registry.store import client as registry_client

    run = registry_client().get_run(json.loads((again / "models/classifier/train.json").read_text())["run_id"])
    assert run.data.tags["idaas.seed"] == "0" and run.data.tags["idaas.deterministic"] == "true"
    assert run.data.tags["idaas.version.torch"] == metadata.version("torch")


def test_candidates_load_with_pyfunc_and_answer_a_real_photo(pipeline, photo_bytes):
    import mlflow
    import pandas as pd

    from registry.store import configure
    from vision.results import ImageAnswer

    configure()
    for kind, entry in _registered(pipeline).items():
        task, _ = MODELS[kind]
        labels = yaml.safe_load((pipeline / f"models/{kind}/spec.yaml").read_text())["labels"]
        model = mlflow.pyfunc.load_model(f"models:/{entry['name']}@candidate")
        rows = model.predict(pd.DataFrame({"id": ["bus"], "image": [photo_bytes["bus.jpg"]]}))
        row = rows[0]
        assert row["error"] is None and (row["width"], row["height"]) == (810, 1080)
        assert row["models"] == {task: f"{entry['name']}/{entry['version']}"}
        answer = ImageAnswer.from_wire(row).results[task]
        if task == "classify":
            assert answer.labels and {label.label for label in answer.labels} <= set(labels)
        else:
            assert all(obj.label in labels and len(obj.box) == 4 for obj in answer.objects)


@pytest.mark.parametrize(
    "stage, args, names",
    [
        ("prepare", ["--set", "data.classify.source=/no/such/folder"], "/no/such/folder"),
        ("train_classifier", ["--base-weights", "pack:no-such-pack"], "no-such-pack"),
        ("train_detector", ["--base-weights", "ultralytics:no-such-yolo.pt"], "no-such-yolo.pt"),
        ("train_classifier", ["--epochs", "0"], "classifier.epochs"),
        ("train_detector", ["--set", "detector.epochs=0"], "detector.epochs"),
    ],
)
def test_bad_parameters_stop_the_stage_with_one_plain_line(pipeline, stage, args, names):
    # Each fails before the stage writes anything, so the pipeline copy stays as repro left it.
    done = _run([sys.executable, "-m", f"training.{stage}", *args], pipeline, timeout=120)
    assert done.returncode == 1, _tail(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{stage}: error ") and names in lines[0]
    assert "Traceback" not in done.stdout


def test_a_stage_runs_as_an_mlflow_project_entry_point(pipeline):
    from registry.store import client as registry_client
    from registry.store import tracking_uri

    done = _run(
        [
            str(BIN / "mlflow"),
            "run",
            ".",
            "-e",
            "train_classifier",
            "-P",
            "epochs=1",
            "--experiment-name",
            "idaas",
            "--env-manager",
            "local",
        ],
        pipeline,
        MLFLOW_TRACKING_URI=tracking_uri(),
    )
    assert done.returncode == 0, _tail(done)
    client = registry_client()
    trained = json.loads((pipeline / "models/classifier/train.json").read_text())
    run = client.get_run(trained["run_id"])
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags["mlflow.project.entryPoint"] == "train_classifier"
    assert parent.data.params["epochs"] == "1" and run.data.params["classifier.epochs"] == "1"
