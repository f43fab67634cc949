"""The story in MLflow's UI: after a promote / promote / rollback sequence the registered model's
description holds the stage history (who, when, why, the gate's verdict) and the alias holders,
each version's description its own moves and a link to its training run; a draft review reads
"DRAFT — not reviewed" until a person signs one; a router's description links each member
version and its review, with `@alias` kept out of MLflow's user-link markdown. Read back through
MlflowClient from an embedded registry of this module's own (model-free models)."""

from __future__ import annotations

import re

import pytest

from tests.registry_sandbox import private_registry, promotion_story

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

    draft = {**SIGNED, "decision": "prototype", "reviewer": "pipeline", "draft": True}
    with private_registry(tmp_path_factory.mktemp("descriptions"), "d", user="dana"):
        yield {"client": store.client(), **promotion_story("d", SIGNED, photos, draft=draft)}


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
