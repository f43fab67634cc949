"""The notebooks in notebooks/ run top to bottom against a real registry, so they never rot.

Each runs in a fresh kernel of this test's Python; the kernel spec and every Jupyter/IPython
folder live in the test's data directory (nothing is written to the user's home).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL = "idaas-test"


@pytest.fixture(scope="module")
def jupyter_env(idaas_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "data" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "idaas (tests)",
                "language": "python",
            }
        )
    )
    env = {
        "JUPYTER_PATH": str(root / "data"),
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "IPYTHONDIR": str(root / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    yield root
    patch.undo()


def run_notebook(name: str, params: dict, workdir: Path) -> nbformat.NotebookNode:
    """Execute a notebook with ``params`` injected after its parameters cell (papermill's convention)."""
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    at = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    book.cells.insert(at + 1, injected)
    try:
        NotebookClient(book, kernel_name=KERNEL, timeout=900, resources={"metadata": {"path": str(workdir)}}).execute()
    finally:  # the executed copy, outputs and all, to look at when a test fails
        nbformat.write(book, workdir / f"{name}.executed.ipynb")
    return book


def text_of(book: nbformat.NotebookNode) -> str:
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images_in(book: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))


def test_notebooks_are_numbered_short_and_start_with_a_question():
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["01-batch-scoring", "02-compare-model-versions", "03-impact-analysis"]
    for name in names:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert book.cells[0].cell_type == "markdown" and "**Question:" in book.cells[0].source
        assert len(book.cells) <= 14
        assert not any(c.get("outputs") for c in book.cells if c.cell_type == "code"), f"{name} is stored with outputs"


def test_01_batch_scoring(jupyter_env, router_version, tmp_path):
    book = run_notebook("01-batch-scoring", {"MODEL_URI": f"models:/idaas/{router_version}"}, tmp_path)
    out = text_of(book)
    assert re.search(r"13 photos scored with \{'classify': 'classify-mobilenet-v2/\d+'", out)
    assert re.search(r"ok\s+13", out)  # every photo answered
    assert "espresso" in out and "Region-based segmentation" in out
    assert images_in(book) == 3


@pytest.fixture(scope="module")
def two_classifier_versions(router_version) -> tuple[str, str]:
    """The production MobileNetV2 and a second version of it at 192 px input (a lighter variant)."""
    from registry.catalog import load_catalog
    from registry.store import client
    from registry.versions import register_spec

    production = client().get_model_version_by_alias("classify-mobilenet-v2", "production").version
    spec = load_catalog().get("classify-mobilenet-v2").spec()
    lighter = spec.model_copy(
        update={
            "options": {**spec.options, "input_size": 192, "resize": 219},
            "description": "MobileNetV2 at 192 px input: lighter, for batch scoring.",
        }
    )
    # alias=None: a test variant must not take @candidate of a catalog model other tests read.
    return str(production), register_spec(lighter, skip_unchanged=True, alias=None).version


def test_02_compare_model_versions(jupyter_env, two_classifier_versions, tmp_path):
    a, b = two_classifier_versions
    book = run_notebook("02-compare-model-versions", {"VERSION_A": a, "VERSION_B": b}, tmp_path)
    out = text_of(book)
    assert "'input_size': 192" in out
    agreement = float(re.search(r"top-1 agreement:\s+([\d.]+)% of 52 images", out).group(1))
    assert 0 < agreement < 100  # the same weights at a lower resolution: often, not always, the same label
    assert images_in(book) == 1  # the side-by-side figure of the images where they differ


def test_03_impact_analysis_on_a_user_manifest_with_an_unreadable_photo(jupyter_env, router_version, photos, tmp_path):
    # real data's shape: a user manifest (one row per photo) with a file that is not an image,
    # and engagement one row per photo, which the notebook must sum per user before the join
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    paths = [str(p) for p in photos.values()]
    rows = [(f"u{n}", paths[n % len(paths)]) for n in range(12)] + [("u0", str(broken)), ("u1", paths[0])]
    manifest = tmp_path / "users.csv"
    manifest.write_text("member,file\n" + "".join(f"{u},{p}\n" for u, p in rows))
    engagement = tmp_path / "likes.csv"
    engagement.write_text("member,photo,hearts\n" + "".join(f"{u},{p},{10 + n}\n" for n, (u, p) in enumerate(rows)))
    book = run_notebook(
        "03-impact-analysis",
        {
            "MODEL_URI": f"models:/idaas/{router_version}",
            "USER_MANIFEST": str(manifest),
            "USER_COLUMN": "member",
            "PATH_COLUMN": "file",
            "ENGAGEMENT": str(engagement),
            "ENGAGEMENT_GRAIN": "photo",
            "LIKES_COLUMN": "hearts",
            "FACE": "any",
        },
        tmp_path,
    )
    out = text_of(book)
    assert "manifest: 14 rows, one per (user, photo); 12 users" in out, out[-3000:]
    assert "unreadable: 1 photo(s) reported and left out" in out and "broken.jpg" in out
    assert "engagement: 14 rows, one per photo -> summed per user" in out
    # a number, or nan when none of these few users is a yes: the point is that both are printed
    number = r"[+-](?:[\d.]+|nan)"
    printed = rf"unknowns counted as no: difference: {number} likes .*adjusted difference: {number} likes"
    assert re.search(printed, out), out[-3000:]
    assert "SYNTHETIC data" not in out


def test_03_impact_analysis(jupyter_env, router_version, tmp_path):
    book = run_notebook("03-impact-analysis", {"MODEL_URI": f"models:/idaas/{router_version}"}, tmp_path)
    out = text_of(book)
    assert "SYNTHETIC" in out and "faces-mtcnn/" in out
    found = re.search(r"difference: ([+-][\d.]+) likes \(([+-]\d+)%\), 95% CI \[([+-][\d.]+), ([+-][\d.]+)\]", out)
    assert found, out[-2000:]
    diff, low, high = float(found.group(1)), float(found.group(3)), float(found.group(4))
    assert low < diff < high
    assert images_in(book) == 1
