"""Two processes promoting different versions of one model at the same time end consistent:
one alias holder, which is the latest recorded move, and every move in the history."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

ROUNDS = 6

_PROMOTER = r"""
import sys, time
from registry.stages import promote
name, version, start, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
from registry import store
store.configure()
time.sleep(max(0.0, start - time.time()))  # both processes begin together
recorded = 0
for i in range(rounds):
    # a no-op when this version already holds production; a move otherwise
    outcome = promote(name, version, "production", force=True, reason=f"round {i} by the process for v{version}")
    recorded += outcome.move is not None
print("recorded", recorded)
"""


@pytest.mark.slow
def test_two_processes_promoting_at_once_end_consistent(tmp_path):
    from registry import store
    from registry.history import moves
    from registry.lookup import aliases, get_model
    from registry.versions import register_spec
    from vision.spec import ModelSpec

    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    try:
        base = ModelSpec(name="race-properties", task="properties", family="properties")
        v1 = register_spec(base).version
        v2 = register_spec(base.model_copy(update={"options": {"defaults": {"colors": 3}}})).version
        assert (v1, v2) == ("1", "2")
        script = tmp_path / "promoter.py"
        script.write_text(_PROMOTER)
        start = time.time() + 8  # both have imported MLflow by then
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), "race-properties", v, str(start), str(ROUNDS)],
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for v in (v1, v2)
        ]
        recorded = {}
        for version, proc in zip((v1, v2), procs):
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0 and "recorded" in out, err[-3000:]
            recorded[version] = int(out.split()[-1])
        assert recorded[v1] >= 1 and recorded[v2] >= 1

        production = moves("race-properties", "production")
        # every move of both processes is in the history, each record whole
        assert sorted(m.version for m in production) == sorted([v1] * recorded[v1] + [v2] * recorded[v2])
        assert all(m.forced and m.why.startswith("round ") and m.who for m in production)
        # one holder, and it is the version of the latest recorded move
        holders = aliases(get_model(store.client(), "race-properties"))
        assert holders["production"] == production[-1].version
        assert holders["candidate"] == v2
        # both processes really interleaved: the history switches between the versions
        switches = sum(1 for a, b in zip(production, production[1:]) if a.version != b.version)
        print(f"production moves: {[m.version for m in production]}, {switches} switches")
        assert switches >= 1
        # every record intact and linked: the two processes' records chain up without a finding
        from registry.audit import audit_model
        from registry.records import verify

        chain = verify("race-properties", stored=True)
        assert chain.problems == [] and all(r.body["stage"] in ("candidate", "production") for r in chain.of("move"))
        # (forced, unreviewed: the audit rightly says the holder is not servable, and nothing else)
        assert {f.code for f in audit_model("race-properties")} == {"not_servable"}
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
        store.configure()
