"""Per-user answers: `idaas analyse per-user` on a folder scored by the registered faces model,
with a user manifest; users without faces or with only abstentions are unknown, never no."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from serving.analysis.per_user import per_user, photo_state, verdict


def _idaas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idaas", *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def faces_version(idaas_home) -> str:
    from registry.bootstrap import bootstrap
    from registry.store import configure

    configure()
    report = bootstrap(names=["faces-mtcnn"])
    return (report.registered + report.unchanged)[0].version


@pytest.fixture(scope="module")
def scored(faces_version, photos, tmp_path_factory) -> tuple[Path, Path]:
    """A folder of real photos (colour, black-and-white, no face) scored by `idaas score`, and
    the user manifest next to it (relative paths)."""
    folder = tmp_path_factory.mktemp("profiles")
    bus = Image.open(photos["bus.jpg"]).convert("RGB")
    bus.save(folder / "bus.jpg", quality=95)
    bus.convert("L").convert("RGB").save(folder / "bus_bw.jpg", quality=95)
    Image.open(photos["zidane.jpg"]).convert("RGB").save(folder / "zidane.jpg", quality=95)
    Image.open(photos["coffee.png"]).convert("RGB").save(folder / "coffee.png")
    Image.open(photos["chelsea.png"]).convert("RGB").save(folder / "chelsea.png")
    users = pd.DataFrame(
        {
            "path": [
                "bus.jpg",
                "bus.jpg",
                "zidane.jpg",
                "bus_bw.jpg",
                "coffee.png",
                "chelsea.png",
                "bus_bw.jpg",
                "bus.jpg",
            ],
            "user_id": ["sunny", "mixed", "mixed", "bw_only", "no_faces", "no_faces", "sunny_bw", "sunny_bw"],
        }
    )
    manifest = folder / "users.csv"
    users.to_csv(manifest, index=False)
    out = tmp_path_factory.mktemp("scores") / "scores.parquet"
    done = _idaas(
        "score", str(folder), "-o", str(out), "--model", f"models:/faces-mtcnn/{faces_version}", "--no-progress"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, manifest


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("all", {"sunny": "yes", "mixed": "no", "bw_only": "unknown", "no_faces": "unknown", "sunny_bw": "unknown"}),
        ("any", {"sunny": "yes", "mixed": "yes", "bw_only": "unknown", "no_faces": "unknown", "sunny_bw": "yes"}),
    ],
)
def test_cli_gives_one_verdict_per_user(scored, tmp_path, rule, expected):
    scores, manifest = scored
    out = tmp_path / "users.parquet"
    done = _idaas("analyse", "per-user", str(scores), "--users", str(manifest), "--rule", rule, "-o", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_parquet(out).set_index("user_id")
    assert table["verdict"].to_dict() == expected
    assert table.loc["no_faces", ["photos", "photos_with_faces"]].tolist() == [2, 0]
    assert table.loc["bw_only", ["photos_with_faces", "photos_unknown", "photos_yes", "photos_no"]].tolist() == [
        1,
        1,
        0,
        0,
    ]
    assert table.loc["mixed", ["photos_yes", "photos_no"]].tolist() == [1, 1]
    assert f"{len(expected)} users" in done.stdout


def test_cli_refuses_a_bad_rule_and_a_manifest_without_the_user_column(scored, tmp_path):
    scores, manifest = scored
    bad_rule = _idaas(
        "analyse",
        "per-user",
        str(scores),
        "--users",
        str(manifest),
        "--rule",
        "most",
        "-o",
        str(tmp_path / "x.parquet"),
    )
    assert bad_rule.returncode == 1 and "error [bad_request]: --rule must be one of" in bad_rule.stderr
    no_column = _idaas(
        "analyse",
        "per-user",
        str(scores),
        "--users",
        str(manifest),
        "--user-column",
        "owner",
        "-o",
        str(tmp_path / "y.parquet"),
    )
    assert no_column.returncode == 1 and "owner" in no_column.stderr and "Traceback" not in no_column.stderr


def test_photo_states_from_the_wire():
    assert photo_state({"faces": []}, "sunglasses") == "no_face"
    assert photo_state({"error": {"code": "x", "message": "y"}}, "sunglasses") == "error"
    one_unknown = {"faces": [{"attributes": {"sunglasses": None}}, {"attributes": {"sunglasses": 0.2}}]}
    assert photo_state(one_unknown, "sunglasses") == "unknown"
    assert photo_state('{"faces": [{"attributes": {"sunglasses": 0.7}}]}', "sunglasses") == "yes"
    # an attribute the model never scored is unknown, not no
    assert photo_state({"faces": [{"attributes": {}}]}, "smile") == "unknown"


def test_share_rule_is_unknown_while_the_unknowns_could_tip_it():
    assert verdict(yes=2, no=1, unknown=1, rule="share", share=0.5) == "yes"
    assert verdict(yes=1, no=1, unknown=2, rule="share", share=0.5) == "unknown"
    assert verdict(yes=0, no=3, unknown=1, rule="share", share=0.5) == "no"
    assert verdict(yes=0, no=0, unknown=0, rule="all") == "unknown"


def test_a_manifest_photo_that_was_not_scored_is_an_error_not_a_photo_without_faces():
    scored = pd.DataFrame({"path": ["a"], "faces": [{"faces": [{"attributes": {"sunglasses": 0.9}}]}]})
    users = pd.DataFrame({"path": ["a", "missing"], "user_id": ["u", "u"]})
    row = per_user(scored, users=users).loc["u"]
    assert (row["photo_errors"], row["photos_yes"], row["verdict"]) == (1, 1, "yes")
