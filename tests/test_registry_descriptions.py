"""The story in MLflow's UI: after a promote / promote / rollback sequence the registered model's
description holds the stage history (who, when, why, the gate's verdict) and the alias holders,
each version's description its own moves and a link to its training run; a draft review reads
"DRAFT — not reviewed" until a person signs one; a router's description links each member
version and its review, with `@alias` kept out of MLflow's user-link markdown. Read back through
MlflowClient from an embedded registry of this module's own (model-free models)."""

from __future__ import annotations

import os
import re

import pytest
import yaml

SIGNED = {
    "question": "Which photos are too dark to show?",
    "business_metric": "photos hidden for quality per day",
    "expected_impact": {"low": 1.0, "high": 3.0, "unit": "% fewer complaints"},
    "evaluation": {"dataset": "profile-photos-sample", "version": "dvc:3f2a9c1", "size": 200},
    "metrics": {"top1_accuracy": 0.8},
    "decision": "productionise",
    "reviewer": "Ada Reviewer",
    "date": "2026-01-15",
}


@pytest.fixture(scope="module")
def story(tmp_path_factory, photos):
    from registry import store
    from registry.compare import compare_versions
    from registry.reviews import set_review
    from registry.stages import promote, rollback
    from registry.versions import register_spec
    from serving.router import build_router
    from vision.spec import ModelSpec

    folder = tmp_path_factory.mktemp("descriptions")
    catalog = folder / "catalog.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": "d-props",
                        "task": "properties",
                        "family": "properties",
                        "thresholds": {"top1_accuracy": 0.7},
                    },
                    {"name": "d-describe", "task": "describe", "family": "describe"},
                ]
            }
        )
    )
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "IDAAS_CATALOG", "IDAAS_USER")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["IDAAS_CATALOG"] = str(catalog)
    os.environ["IDAAS_USER"] = "dana"
    try:
        store.configure()
        client = store.client()
        v1 = register_spec(ModelSpec(name="d-props", task="properties", family="properties")).version
        v2 = register_spec(
            ModelSpec(name="d-props", task="properties", family="properties", options={"colours": 3})
        ).version
        describe = register_spec(ModelSpec(name="d-describe", task="describe", family="describe")).version
        set_review("d-props", v1, {**SIGNED, "decision": "prototype", "reviewer": "pipeline", "draft": True})
        drafted = client.get_model_version("d-props", v1).description
        for name, version in (("d-props", v1), ("d-props", v2), ("d-describe", describe)):
            set_review(name, version, SIGNED)
        promote("d-props", v1, "production", reason="first launch")
        compare_versions("d-props", v1, v2, next(iter(photos.values())).parent, limit=2)
        promote("d-props", v2, "production", reason="better accuracy")
        rollback("d-props", reason="v2 doubled latency")
        router, _, _ = build_router("d-router", alias="candidate")
        yield {
            "client": client,
            "v1": str(v1),
            "v2": str(v2),
            "describe": str(describe),
            "router": str(router.version),
            "drafted": drafted,
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        store.configure()


def test_the_model_description_holds_the_history_and_the_holders(story):
    text = story["client"].get_registered_model("d-props").description
    v1, v2 = story["v1"], story["v2"]
    assert f"- `production`: [d-props version {v1}](#/models/d-props/versions/{v1}) since " in text, text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`production`" in line]
    assert len(rows) == 3, text
    assert "| dana | first launch | passed: review `" in rows[0] and "top1_accuracy >= 0.7" in rows[0]
    assert f"[d-props version {v1}](#/models/d-props/versions/{v1}) | [d-props version {v2}]" in rows[1]
    assert "better accuracy" in rows[1] and "v2 doubled latency | rollback" in rows[2]
    assert all(re.match(r"\| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \|", row) for row in rows)


def test_a_version_description_holds_its_moves_and_its_training_run(story):
    client, v2 = story["client"], story["v2"]
    mv = client.get_model_version("d-props", v2)
    run = client.get_run(mv.run_id)
    text = mv.description
    assert f"(#/experiments/{run.info.experiment_id}/runs/{mv.run_id})" in text, text
    assert "better accuracy" in text and "v2 doubled latency" in text  # moved to it, and away from it
    assert "first launch" not in text
    assert "## Impact review — revision 1: **productionise**" in text  # the review stays above the story


def test_a_draft_review_is_marked_until_a_person_signs_one(story):
    assert "DRAFT — not reviewed" in story["drafted"] and "by pipeline" not in story["drafted"]
    signed = story["client"].get_model_version("d-props", story["v1"]).description
    assert "revision 2: **productionise**" in signed and "by Ada Reviewer on 2026-01-15" in signed
    assert "DRAFT" not in signed


def test_the_router_description_links_each_member_and_its_review(story):
    client = story["client"]
    text = client.get_model_version("d-router", story["router"]).description
    for name, version in (("d-props", story["v2"]), ("d-describe", story["describe"])):
        link = f"(#/models/{name}/versions/{version})"
        assert f"[{name} version {version}]{link} | [**productionise** by Ada Reviewer on 2026-01-15]{link}" in text
    assert "`@candidate`" in text and not re.search(r"(?<!`)@candidate", text), text
    assert not re.search(r"(?<!`)@(production|candidate|staging)", client.get_registered_model("d-router").description)
