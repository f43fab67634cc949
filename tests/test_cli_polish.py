"""The command line reads well: `--version`, help without type noise and with whole defaults,
`models history` as a table (readable times, the why, a router's members), `models show` naming
the training run and each move's reason, and a review template that `reviews set` refuses until
every placeholder is replaced. On an embedded registry of this module's own, through real
`python -m idaas` processes (model-free models, so registering is quick)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.registry_sandbox import private_registry, promotion_story

REVIEW = {
    "question": "Which photos are too dark to show?",
    "business_metric": "photos hidden for quality per day",
    "expected_impact": {"low": 1.0, "high": 3.0, "unit": "% fewer complaints"},
    "evaluation": {"dataset": "profile-photos-sample", "version": "dvc:3f2a9c1", "size": 200},
    "metrics": {"top1_accuracy": 0.8},
    "risks": [],
    "decision": "productionise",
    "reviewer": "Ada Reviewer",
    "date": "2026-01-15",
}


@pytest.fixture(scope="module")
def reg(tmp_path_factory, photos):
    """cp-props v1 -> production, v2 -> production, rolled back; a router over the candidates."""
    from registry.reviews import set_review
    from registry.stages import promote

    with private_registry(tmp_path_factory.mktemp("cli-polish"), "cp", user="dana"):
        story = promotion_story("cp", REVIEW, photos)
        set_review("cp-router", story["router"], REVIEW)
        promote("cp-router", story["router"], "staging", reason="try the new members")
        yield {"env": {**os.environ}, **story}


def _idaas(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "idaas", *args],
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_version_and_help_without_type_noise_or_cut_defaults():
    done = _idaas("--version")
    assert done.returncode == 0 and re.fullmatch(r"idaas \d+\.\d+\.\d+\n", done.stdout), done
    for command in (["models", "promote"], ["score"], ["models", "history"]):
        shown = _idaas(*command, "--help")
        assert shown.returncode == 0, shown.stderr
        for noise in ("<bool>", "<str>", "<int", "range>", "x>=", "╭"):
            assert noise not in shown.stdout, (command, noise, shown.stdout)
    score = _idaas("score", "--help").stdout
    assert "[default: models:/idaas@production]" in " ".join(score.split())  # whole, not cut with "..."
    assert "images per model call  [default: 32; at least 1]" in score
    assert "Usage: idaas models promote [OPTIONS] NAME VERSION" in _idaas("models", "promote", "--help").stdout


def test_history_is_a_table_with_seconds_the_why_and_router_members(reg):
    done = _idaas("models", "history", "cp-props", env=reg["env"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["WHEN", "(UTC)", "STAGE", "FROM", "TO", "KIND", "BY", "WHY"]
    production = [line for line in lines[1:] if " production " in line]
    assert len(production) == 3, done.stdout
    for line in lines[1:]:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", line), line  # seconds, like `show`
        assert not re.search(r"\d\d:\d\d:\d\d\.\d{3}", line)
    assert "first launch" in production[0] and "(none)" in production[0] and "by dana" not in production[0]
    assert "dana" in production[0] and "better accuracy" in production[1]
    assert "rollback" in production[2] and "v2 doubled latency" in production[2]

    router = _idaas("models", "history", "cp-router", env=reg["env"])
    assert router.returncode == 0, router.stderr
    assert (
        f"version {reg['router']} serves: describe=cp-describe/{reg['describe']}, properties=cp-props/{reg['v2']}"
    ) in router.stdout, router.stdout
    assert "try the new members" in router.stdout


def test_show_names_the_training_run_and_each_moves_reason(reg):
    from registry import store

    done = _idaas("models", "show", "cp-props", reg["v2"], env=reg["env"])
    assert done.returncode == 0, done.stderr
    run_id = store.client().get_model_version("cp-props", reg["v2"]).run_id
    assert run_id and "training run: " in done.stdout and run_id in done.stdout, done.stdout
    assert "source: " not in done.stdout
    assert f"production {reg['v1']} -> {reg['v2']} (promote) by dana: better accuracy" in done.stdout, done.stdout
    back = _idaas("models", "show", "cp-props", reg["v1"], env=reg["env"]).stdout
    assert f"production {reg['v2']} -> {reg['v1']} (rollback) by dana: v2 doubled latency" in back, back


def test_reviews_set_refuses_an_unedited_template_with_a_plain_message(reg, tmp_path):
    template = tmp_path / "review.yaml"
    made = _idaas("reviews", "template", "-o", str(template), env=reg["env"])
    assert made.returncode == 0, made.stderr
    text = template.read_text()
    assert "0.91" not in text and "Jane Doe" not in text and "<question: what decision does this model inform?>" in text
    refused = _idaas("reviews", "set", "cp-props", reg["v1"], "-f", str(template), env=reg["env"])
    assert refused.returncode == 1
    assert refused.stderr.startswith("error [bad_request]: ") and "Traceback" not in refused.stderr
    assert "still has template placeholders in: question, business_metric" in refused.stderr
    assert "reviewer" in refused.stderr and "replace each <...> with your own answer" in refused.stderr

    # one placeholder left is still refused; a filled-in review is taken
    data = yaml.safe_load(text)
    filled = {**data, **REVIEW, "notes": ""}
    filled["risks"] = [{"area": "privacy", "description": "<what could go wrong>"}]
    template.write_text(yaml.safe_dump(filled))
    again = _idaas("reviews", "set", "cp-props", reg["v1"], "-f", str(template), env=reg["env"])
    assert again.returncode == 1 and "placeholders in: risks[0].description" in again.stderr, again.stderr
    filled["risks"] = []
    filled["draft"] = True  # started from a machine's draft: setting it through the CLI signs it
    template.write_text(yaml.safe_dump(filled))
    taken = _idaas("reviews", "set", "cp-props", reg["v1"], "-f", str(template), env=reg["env"])
    assert taken.returncode == 0 and "review revision 2 recorded" in taken.stdout, taken.stderr
    shown = _idaas("reviews", "show", "cp-props", reg["v1"], env=reg["env"]).stdout
    assert "revision 2: **productionise**" in shown and "DRAFT" not in shown, shown
