"""Benchmark: this tree against an older commit, task by task, on the same machine in one session.

    .venv/bin/python benchmarks/compare_trees.py --old 28ba8de --task faces --task properties [--rounds 3]

The older commit is checked out in a temporary git worktree. Then ``benchmarks/task_rate.py``
runs in fresh processes, alternating old and new tree, ``--rounds`` times per task, so that
machine noise falls on both alike. Both trees use this virtual environment. The table gives
the median images/s of each tree and their ratio, and says whether the two trees' answers
are equal on every bundled photo. Fields that only the new tree writes are left out of that
comparison, and each photo that differs is named. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parent.parent
RATE = REPO / "benchmarks" / "task_rate.py"

app = typer.Typer(add_completion=False)


def _run(tree: Path, task: str, copies: int, repeats: int, answers: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, str(RATE), "--task", task, "--copies", str(copies), "--repeats", str(repeats)]
    done = subprocess.run(
        [*command, "--answers", str(answers)], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: task_rate.py failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _common(old: object, new: object) -> object:
    """``new`` without the keys ``old`` does not have (fields added since), recursively."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {key: _common(old[key], new[key]) for key in old if key in new}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [_common(a, b) for a, b in zip(old, new)]
    return new


def _differences(old_file: Path, new_file: Path) -> list[str]:
    old, new = json.loads(old_file.read_text()), json.loads(new_file.read_text())
    return [photo for photo in old if _common(old[photo], new.get(photo)) != old[photo]]


@app.command()
def main(
    old: str = typer.Option(..., help="the commit to compare against (e.g. the tree before a change)"),
    task: list[str] = typer.Option(["faces"], help="tasks to measure (repeat the option)"),
    rounds: int = typer.Option(3, help="old/new pairs per task"),
    copies: int = typer.Option(1, help="the bundled photos, this many times over"),
    repeats: int = typer.Option(3, help="timed calls per process (its median is one figure)"),
) -> None:
    with tempfile.TemporaryDirectory(prefix="idaas-old-") as tmp:
        old_tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(old_tree), old], check=True, capture_output=True
        )
        try:
            print(f"old: {old} ({old_tree}); new: {REPO}; {rounds} alternating rounds, medians")
            print(f"{'task':<12} {'measure':<8} {'old img/s':>10} {'new img/s':>10} {'new/old':>8}")
            for name in task:
                figures: dict[str, list[dict]] = {"old": [], "new": []}
                for _ in range(rounds):
                    for label, tree in (("old", old_tree), ("new", REPO)):
                        figures[label].append(_run(tree, name, copies, repeats, Path(tmp) / f"{label}-{name}.json"))
                for measure in ("bytes", "decoded"):
                    before = statistics.median(f[measure] for f in figures["old"])
                    after = statistics.median(f[measure] for f in figures["new"])
                    print(f"{name:<12} {measure:<8} {before:>10.1f} {after:>10.1f} {after / before:>7.2f}x")
                differ = _differences(Path(tmp) / f"old-{name}.json", Path(tmp) / f"new-{name}.json")
                verdict = f"differ on {', '.join(differ)}" if differ else "equal on every photo"
                print(f"{name:<12} answers: {verdict}")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_tree)], check=False)


if __name__ == "__main__":
    app()
