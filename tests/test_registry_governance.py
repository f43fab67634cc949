"""Governance nobody can bypass, on an embedded registry of this module's own (SQLite): each way
around the gate that plain MLflow offers is refused where models are used (`router build`,
promotion, `serve`) or reported by `idaas audit` and shown as broken; the review gate is checked
for every member of a router; records cannot be edited, deleted or reordered unseen; and no
credential reaches the output.

Models here are model-free (the properties and describe families), so registering one is quick.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import yaml

from tests.registry_sandbox import private_registry
from vision.errors import IdaasError

REPO = Path(__file__).resolve().parent.parent


def _review(decision: str = "productionise", **metrics: float) -> dict:
    return {
        "question": "Which photos are too dark to show?",
        "business_metric": "photos hidden for quality per day",
        "expected_impact": {"low": 1.0, "high": 3.0, "unit": "% fewer complaints"},
        "evaluation": {"dataset": "profile-photos-sample", "version": "dvc:3f2a9c1", "size": 200},
        "metrics": metrics,
        "risks": [
            {
                "area": "fairness",
                "description": "darker skin tones read as dark photos",
                "mitigation": "threshold reviewed per skin-tone bucket",
            }
        ],
        "decision": decision,
        "reviewer": "Ada Reviewer",
        "date": date(2026, 1, 15).isoformat(),
    }


@pytest.fixture(scope="module")
def gov(tmp_path_factory):
    """A registry and a catalog for this module only (model-free entries; the router is "router-t")."""
    folder = tmp_path_factory.mktemp("governance")
    with private_registry(folder, "r") as catalog:
        yield {"folder": folder, "catalog": catalog, "env": {**os.environ}}


def _register(name: str, family: str = "properties", **options) -> str:
    from registry.versions import register_spec
    from vision.spec import ModelSpec

    task = "describe" if family == "describe" else "properties"
    return register_spec(ModelSpec(name=name, task=task, family=family, options=options)).version


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "idaas", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _run_all(commands: dict[str, list[str]], env: dict) -> dict[str, tuple[int, str, str]]:
    """Run CLI commands side by side (all read-only or independent); label -> (rc, stdout, stderr)."""
    procs = {label: _start(args, env) for label, args in commands.items()}
    outputs = {label: proc.communicate(timeout=600) for label, proc in procs.items()}
    return {label: (procs[label].returncode, *outputs[label]) for label in procs}


def _one_error_line(result: tuple[int, str, str]) -> str:
    rc, out, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1 and len(lines) == 1 and "Traceback" not in err, (rc, out, err)
    return lines[0]


def test_a_plain_mlflow_alias_move_is_caught_by_list_history_audit_router_build_serve_and_promote(gov):
    from registry import store
    from registry.reviews import set_review
    from registry.stages import promote

    version = _register("r-props")
    _register("r-describe", family="describe")
    # finding 1: plain MLflow, no review, no gate
    store.client().set_registered_model_alias("r-props", "production", version)

    done = _run_all(
        {
            "list": ["models", "list"],
            "history": ["models", "history", "r-props"],
            "audit": ["audit", "r-props"],
            "audit-json": ["audit", "--json"],
            "build": ["router", "build"],
            "serve": ["serve", "-m", "models:/r-props@production", "--port", "1"],
            "promote": ["models", "promote", "r-props", version, "--to", "production"],
        },
        gov["env"],
    )
    assert done["list"][0] == 0 and f"production={version} UNRECORDED" in done["list"][1], done["list"]
    assert done["history"][0] == 0 and "@production: UNRECORDED: set outside idaas" in done["history"][1]
    rc, out, err = done["audit"]
    assert rc == 1 and f"r-props/{version}: [alias_unrecorded] @production points at version {version}" in out, out
    assert f"r-props/{version}: [not_servable]" in out and "no impact review" in out
    report = json.loads(done["audit-json"][1])
    assert done["audit-json"][0] == 1 and report["models_checked"] == 2
    assert {(f["model"], f["code"]) for f in report["findings"]} >= {("r-props", "alias_unrecorded")}
    line = _one_error_line(done["build"])
    assert "the router cannot be built" in line and "the alias was set outside idaas" in line
    assert f"r-props/{version}: no impact review" in line
    line = _one_error_line(done["serve"])
    assert line.startswith("error [bad_request]: refusing to serve models:/r-props@production")
    assert "no impact review" in line and "set outside idaas" in line
    line = _one_error_line(done["promote"])
    assert "no gate was passed to put it there" in line and "no impact review" in line

    # with a review that passes, promoting the version that already holds the alias records the move
    with pytest.raises(IdaasError, match="top1_accuracy = 0.5 is below"):
        set_review("r-props", version, _review(top1_accuracy=0.5))
        promote("r-props", version, "production")
    set_review("r-props", version, _review(top1_accuracy=0.75))
    outcome = promote("r-props", version, "production", reason="reviewed after the fact")
    assert outcome.move is not None and outcome.move.review and outcome.holder == version
    assert promote("r-props", version, "production").move is None  # now a real no-op
    from registry.audit import audit_model

    assert audit_model("r-props") == []


def test_a_router_with_an_unreviewed_member_cannot_reach_production_or_be_served(gov, tmp_path, monkeypatch):
    from registry import records, store
    from registry.audit import audit_model
    from registry.members import gate_record
    from registry.reviews import REVISION_PREFIX, set_review
    from registry.servable import NotServable, check_servable
    from registry.stages import GateRefused, promote
    from serving.router import RouterRefused, build_router, export_router

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": "rt-props",
                        "task": "properties",
                        "family": "properties",
                        "thresholds": {"top1_accuracy": 0.7},
                    },
                    {"name": "rt-describe", "task": "describe", "family": "describe"},
                ]
            }
        )
    )
    monkeypatch.setenv("IDAAS_CATALOG", str(catalog))
    props = _register("rt-props")
    describe = _register("rt-describe", family="describe")
    set_review("rt-props", props, _review(top1_accuracy=0.8))

    # finding 2: a candidate member with no review
    with pytest.raises(RouterRefused) as refused:
        build_router("router-t", alias="candidate")
    assert any(m.startswith(f"rt-describe/{describe}: no impact review") for m in refused.value.missing)
    assert not any(m.startswith("rt-props") for m in refused.value.missing), refused.value.missing

    router, _, _ = build_router("router-t", alias="candidate", allow_unreviewed=True)
    rv = str(router.version)
    assert gate_record("router-t", rv)["unreviewed"] is True
    set_review("router-t", rv, _review())
    promote("router-t", rv, "staging", reason="try it")
    with pytest.raises(GateRefused) as gate:
        promote("router-t", rv, "production", reason="ship it")
    assert f"member rt-describe/{describe}: no impact review" in " ".join(gate.value.missing)
    with pytest.raises(NotServable) as served:
        check_servable(f"models:/router-t/{rv}")
    assert "was built with --allow-unreviewed" in served.value.message
    with pytest.raises(NotServable):  # the container serves with no registry: the gate runs at export
        export_router(rv, tmp_path / "export-unreviewed", name="router-t")
    assert f"rt-describe/{describe}: no impact review" in served.value.message

    # reviewed, the member passes; the router built now carries the digests of both reviews
    set_review("rt-describe", describe, _review())
    router, _, reused = build_router("router-t", alias="candidate")
    good = str(router.version)
    assert not reused and good != rv
    kept = gate_record("router-t", good)["members"]
    assert kept[f"rt-describe/{describe}"]["review"] == records.verify("rt-describe").of("review", describe)[-1].digest
    set_review("router-t", good, _review())
    promote("router-t", good, "production", reason="members reviewed")
    assert check_servable("models:/router-t@production") == (f"models:/router-t/{good}", [])
    assert audit_model("router-t") == []
    assert (export_router(good, tmp_path / "export", name="router-t") / "MLmodel").exists()

    # a member's review tag edited afterwards: the router's recorded digest no longer verifies
    key = records.verify("rt-describe").of("review", describe)[-1].key
    store.client().set_model_version_tag("rt-describe", describe, key, "0" * 64 + " elsewhere")
    with pytest.raises(NotServable) as served:
        check_servable("models:/router-t@production")
    assert "no longer verifies" in served.value.message and "is broken" in served.value.message
    findings = {(f.code, f.version) for f in audit_model("router-t")}
    assert ("not_servable", good) in findings
    # a router whose tags say it serves another member than its bundle carries
    store.client().set_model_version_tag("router-t", good, "idaas.router.describe", "rt-describe/99")
    mismatch = [f for f in audit_model("router-t") if f.code == "members_mismatch"]
    assert len(mismatch) == 1 and mismatch[0].version == good
    assert "describe=rt-describe/99" in mismatch[0].message
    assert f"describe=rt-describe/{describe}" in mismatch[0].message
    assert key.startswith(REVISION_PREFIX)


def _promoted(name: str) -> str:
    """A version of a new model, reviewed (two revisions) and promoted to staging and production."""
    from registry.reviews import set_review
    from registry.stages import promote

    version = _register(name)
    set_review(name, version, {**_review(), "reviewer": "Ada Reviewer", "metrics": {"top1_accuracy": 0.71}})
    set_review(name, version, {**_review(), "reviewer": "Ada Reviewer", "metrics": {"top1_accuracy": 0.72}})
    promote(name, version, "staging", reason="first look")
    promote(name, version, "production", reason="review passed")
    return version


def _codes(name: str) -> set[str]:
    from registry.audit import audit_model

    return {f.code for f in audit_model(name)}


def test_an_edited_review_is_reported_and_shown_broken(gov):
    """Finding 3: a review tag overwritten in place (as plain MLflow allows) with a better-looking review."""
    from registry import records
    from registry.reviews import revisions
    from registry.store import client

    version = _promoted("t-edit")
    first = records.verify("t-edit").of("review", version)[0]
    forged = {
        "review": {**_review(), "reviewer": "someone else", "metrics": {"top1_accuracy": 0.95}, "risks": []},
        "recorded_by": "someone else",
        "recorded_at": "2026-01-01T00:00:00.000+00:00",
    }
    client().set_model_version_tag("t-edit", version, first.key, json.dumps(forged))
    # the forgery is not read: only the intact second revision counts
    assert [r.review.metrics["top1_accuracy"] for r in revisions("t-edit", version)] == [0.72]
    assert {"record_edited", "record_missing", "record_deleted", "not_servable"} <= _codes("t-edit")
    done = _run_all(
        {"audit": ["audit", "t-edit"], "show": ["models", "show", "t-edit", version], "list": ["models", "list"]},
        gov["env"],
    )
    assert done["audit"][0] == 1 and "[record_edited]" in done["audit"][1]
    assert done["show"][0] == 0 and "review BROKEN" in done["show"][1], done["show"]
    assert f"production={version} (BROKEN)" in done["list"][1], done["list"]


def test_a_forged_record_stored_beside_the_real_one_is_reported(gov):
    """An attacker who can also write artifacts stores a well-formed record and points the tag at it."""
    from registry import records
    from registry.store import client

    version = _promoted("t-forge")
    chain = records.verify("t-forge")
    first = chain.of("review", version)[0]
    body = {**first.body, "review": {**first.body["review"], "metrics": {"top1_accuracy": 0.95}, "risks": []}}
    doc = {
        "schema": 1,
        "type": "review",
        "model": "t-forge",
        "version": version,
        "key": first.key,
        "prev": first.prev,
        "body": body,
    }
    data = records.canonical(doc)
    digest = records.digest_of(data)
    local = gov["folder"] / f"{digest}.json"
    local.write_bytes(data)
    client().log_artifact(first.run_id, str(local), records.ARTIFACT_DIR)
    client().set_model_version_tag("t-forge", version, first.key, f"{digest} {first.run_id}")
    codes = _codes("t-forge")
    assert {"record_missing", "record_deleted"} <= codes, codes  # the next record links to the original


def test_a_deleted_move_is_reported_and_the_alias_shown_unrecorded(gov):
    from registry import records
    from registry.store import client

    version = _promoted("t-delete")
    production = [r for r in records.verify("t-delete").of("move") if r.body["stage"] == "production"][-1]
    client().delete_registered_model_tag("t-delete", production.key)
    codes = _codes("t-delete")
    assert {"record_deleted", "alias_unrecorded"} <= codes, codes
    done = _run_all(
        {"history": ["models", "history", "t-delete"], "audit": ["audit", "t-delete", "--json"]}, gov["env"]
    )
    assert done["history"][0] == 0
    assert f"BROKEN  t-delete: the production move to version {version} by" in done["history"][1], done["history"]
    assert "@production: UNRECORDED" in done["history"][1]
    assert done["audit"][0] == 1
    assert "record_deleted" in {f["code"] for f in json.loads(done["audit"][1])["findings"]}


def test_reordered_moves_are_reported(gov):
    from registry import records
    from registry.store import client

    _promoted("t-reorder")
    moves = records.verify("t-reorder").of("move")
    a, b = moves[-2], moves[-1]
    model = client().get_registered_model("t-reorder")
    client().set_registered_model_tag("t-reorder", a.key, model.tags[b.key])
    client().set_registered_model_tag("t-reorder", b.key, model.tags[a.key])
    assert "record_out_of_order" in _codes("t-reorder")


def test_the_decision_tag_alone_decides_nothing(gov):
    from registry.overview import list_models
    from registry.reviews import TAG_DECISION, list_reviews
    from registry.stages import GateRefused, promote
    from registry.store import client

    version = _register("t-mirror")
    client().set_model_version_tag("t-mirror", version, TAG_DECISION, "productionise")
    row = next(r for r in list_models() if r["name"] == "t-mirror")
    assert row["decisions"] == {"candidate": None}
    assert ("t-mirror", version) not in [(n, v) for n, v, _ in list_reviews(decision="productionise")]
    assert "decision_mismatch" in _codes("t-mirror")
    with pytest.raises(GateRefused, match="no impact review"):
        promote("t-mirror", version, "production")


def test_a_machine_drafted_review_cannot_take_production_until_a_person_signs_it(gov):
    from registry.reviews import set_review
    from registry.stages import GateRefused, promote

    version = _register("t-draft")
    # A draft as a pipeline writes one, here even claiming 'productionise': nobody decided.
    set_review("t-draft", version, {**_review(top1_accuracy=0.9), "reviewer": "pipeline", "draft": True})
    with pytest.raises(GateRefused, match="unsigned DRAFT"):
        promote("t-draft", version, "production")
    set_review("t-draft", version, _review(top1_accuracy=0.9))  # a person signs it
    promote("t-draft", version, "production", reason="signed by a person")
    assert "move_without_gate" not in _codes("t-draft")  # the move names the signed revision


def test_idaas_user_names_the_actor_on_the_embedded_registry_and_separation_of_duties(gov, monkeypatch, tmp_path):
    from registry import store
    from registry.history import moves
    from registry.reviews import set_review
    from registry.stages import GateRefused, promote

    assert store.current_user() != "alice"
    monkeypatch.setenv("IDAAS_USER", "alice")
    assert store.current_user() == "alice"  # SQLite: the OS user is the only identity, IDAAS_USER may name it
    version = _register("t-duties")
    set_review("t-duties", version, _review())
    strict = tmp_path / "catalog.yaml"
    strict.write_text(
        yaml.safe_dump({**yaml.safe_load(gov["catalog"].read_text()), "gate": {"require_distinct_promoter": True}})
    )
    monkeypatch.setenv("IDAAS_CATALOG", str(strict))
    with pytest.raises(GateRefused, match="separation of duties: alice recorded every revision"):
        promote("t-duties", version, "production")
    monkeypatch.setenv("IDAAS_USER", "bob")
    assert promote("t-duties", version, "production").holder == version
    assert [(m.stage, m.who) for m in moves("t-duties")] == [("candidate", "alice"), ("production", "bob")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_password_in_the_tracking_uri_never_reaches_the_output(gov):
    secret = "s3cret-Pa55word"
    port = _free_port()  # nothing listens there
    env = {**gov["env"], "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    done = {
        "http": _run_one(["models", "list"], {**env, "MLFLOW_TRACKING_URI": f"http://bob:{secret}@127.0.0.1:{port}"}),
        "postgres": _run_one(
            ["models", "list"], {**env, "MLFLOW_TRACKING_URI": f"postgresql://bob:{secret}@127.0.0.1:{port}/mlflow"}
        ),
        "password-var": _run_one(
            ["audit"],
            {
                **env,
                "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}",
                "MLFLOW_TRACKING_USERNAME": "bob",
                "MLFLOW_TRACKING_PASSWORD": secret,
            },
        ),
    }
    for label, (rc, out, err) in done.items():
        assert rc == 1, (label, out, err)
        assert secret not in out + err, (label, out + err)
        assert "Traceback" not in err and err.strip(), (label, err)


def _run_one(args: list[str], env: dict) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "idaas", *args], env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.slow
def test_serve_allow_unreviewed_says_so_loudly_and_marks_every_answer(gov, photo_bytes):
    import base64

    import requests

    version = _register("t-unreviewed")
    port = _free_port()
    log = gov["folder"] / "serve-unreviewed.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idaas",
                "serve",
                "-m",
                "models:/t-unreviewed@candidate",
                "--port",
                str(port),
                "--allow-unreviewed",
            ],
            env=gov["env"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.time() + 240
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        encoded = {
            n: base64.b64encode(photo_bytes[f]).decode()
            for n, f in (("bus", "bus.jpg"), ("hopper", "grace_hopper.jpg"))
        }
        body = {
            "dataframe_records": [{"id": n, "image": image} for n, image in encoded.items()],
            "params": {"tasks": "properties"},
        }
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        rows = answer.json()["predictions"]
        assert [row["models"] for row in rows] == [{"properties": f"t-unreviewed/{version} [UNREVIEWED]"}] * 2
        banner = log.read_text()
        assert "SERVING WITHOUT THE REVIEW GATE" in banner and "no impact review" in banner
        assert f"models:/t-unreviewed/{version}" in banner  # pinned to the version that was checked
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_artifacts_replaced_after_the_review_are_refused(gov, tmp_path):
    """An EDIT user can upload over a logged model's files: the review is of the bytes, so the
    version no longer passes where it is used (serve, promotion) and the audit says so."""
    from registry.audit import audit_model
    from registry.servable import NotServable, check_servable
    from registry.stages import GateRefused, promote
    from registry.store import client

    version = _promoted("t-swap")
    assert check_servable("models:/t-swap@production")[1] == []
    source = client().get_model_version("t-swap", version).source  # models:/m-<logged model id>
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"name": "t-swap", "task": "properties", "family": "properties", "options": {"defaults": {"colors": 9}}}
        )
    )
    client().log_model_artifact(source.split("/")[-1], str(spec), "artifacts/bundle/t-swap")
    with pytest.raises(NotServable, match="changed after the review was recorded"):
        check_servable("models:/t-swap@production")
    assert "not_servable" in {f.code for f in audit_model("t-swap")}
    with pytest.raises(GateRefused, match="changed after the review"):
        promote("t-swap", version, "production", reason="again")
