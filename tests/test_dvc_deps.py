"""dvc.yaml's deps are the code each stage runs, so `dvc repro` never keeps metrics made by old code.

A stage's code is the import closure of its entry module (``python -m training.<stage>``) over
the project's packages: every module it, or any module it reaches, imports at the top or inside
a function (a lazy import still runs when the stage calls that function), plus the packages'
``__init__`` files and the adapter families ``vision.adapters`` imports by name ("module:Class").
It over-approximates on purpose: a stage may rerun for a module it did not call, never miss one.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("vision", "registry", "serving", "training", "idaas")
STAGE_COMMAND = re.compile(r"^python -m ([\w.]+)")
NAMED_IMPORT = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)+):\w+$")  # "vision.adapters.embed:ClipEmbedder"
DVC = Path(sys.executable).with_name("dvc")


def _module_file(name: str, root: Path = REPO) -> Path | None:
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, name: str) -> set[str]:
    """Every module name ``path`` (module ``name``) can import, resolved to absolute names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from vision.adapters import torchvision_nets` imports a module, not a name
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = NAMED_IMPORT.match(node.value)
            if named:
                found.add(named.group(1))
    return found


def import_closure(entry: str, root: Path = REPO) -> set[str]:
    """Repository-relative paths of the project modules ``entry`` can import, itself included."""
    seen: dict[str, Path] = {}
    todo = [entry]
    while todo:
        parts = todo.pop().split(".")
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            path = _module_file(name, root)
            if path is None or name in seen:
                continue
            seen[name] = path
            todo.extend(_imports(path, name))
    return {path.relative_to(root).as_posix() for path in seen.values()}


def _stages(root: Path = REPO) -> dict[str, dict]:
    return yaml.safe_load((root / "dvc.yaml").read_text())["stages"]


def _entry_module(stage: dict) -> str:
    matched = STAGE_COMMAND.match(stage["cmd"])
    assert matched, f"stage command {stage['cmd']!r} is not `python -m MODULE`: derive its closure another way"
    return matched.group(1)


def _code_deps(stage: dict) -> set[str]:
    return {dep for dep in stage.get("deps", []) if dep.endswith(".py")}


def test_every_stage_depends_on_exactly_the_modules_it_can_import():
    stages = _stages()
    assert set(stages) == {"prepare", "train_classifier", "train_detector", "evaluate", "register"}
    problems = []
    for name, stage in stages.items():
        closure = import_closure(_entry_module(stage))
        declared = _code_deps(stage)
        if missing := sorted(closure - declared):
            problems.append(f"{name}: add to deps {missing}")
        if extra := sorted(declared - closure):
            problems.append(f"{name}: not imported any more, remove from deps {extra}")
    assert not problems, "dvc.yaml deps differ from the stages' imports:\n" + "\n".join(problems)


def test_the_closure_follows_lazy_imports_and_named_families():
    # the regression behind this file: train_classifier imports torchvision_nets inside a function
    closure = import_closure("training.train_classifier")
    assert "vision/adapters/torchvision_nets.py" in closure
    assert {"training/config.py", "training/stage.py", "vision/__init__.py", "vision/adapters/__init__.py"} <= closure
    # evaluate builds adapters by family name; yolo's module is reached only through that string
    assert "vision/adapters/detect_yolo.py" in import_closure("training.evaluate")
    # imports point down: no stage can reach the serving layer or the CLI
    assert not any(path.startswith(("serving/", "idaas/")) for path in closure)


def _fresh_copy(dest: Path) -> None:
    """What a clone of this working tree holds: the files git tracks or would track, no DVC cache."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        source = REPO / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)


def _dvc(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([str(DVC), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"dvc {' '.join(args)}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _changed_code(status: dict, stage: str) -> dict[str, str]:
    changed: dict[str, str] = {}
    for entry in status.get(stage, []):
        if isinstance(entry, dict):
            changed.update(
                (path, state) for path, state in entry.get("changed deps", {}).items() if path.endswith(".py")
            )
    return changed


def _stand_in_outputs(clone: Path, stages: dict[str, dict]) -> None:
    """A clone has no DVC cache and so no outputs: stand-ins let `dvc commit` record the current
    code in dvc.lock, a clean starting point however old the committed lock is."""
    for stage in stages.values():
        for out in stage.get("outs", []) + stage.get("metrics", []):
            path = clone / (next(iter(out)) if isinstance(out, dict) else out)
            if path.exists():
                continue
            if path.suffix:  # a file output: metrics.json, registered.json
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}\n")
            else:
                path.mkdir(parents=True)
                (path / "stand-in.txt").write_text("no output in a fresh clone\n")


def test_a_comment_appended_to_any_imported_module_makes_dvc_status_report_the_stage(tmp_path):
    clone = tmp_path / "clone"
    _fresh_copy(clone)
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    stages = _stages(clone)
    _stand_in_outputs(clone, stages)
    _dvc(["commit", "--force", "--quiet"], clone)
    before = json.loads(_dvc(["status", "--json"], clone).stdout or "{}")
    assert not any(_changed_code(before, name) for name in stages), before

    modules = sorted(p for package in PACKAGES for p in (clone / package).rglob("*.py"))
    for module in modules:
        with module.open("a") as f:
            f.write("\n# a comment appended by test_dvc_deps\n")
    after = json.loads(_dvc(["status", "--json"], clone).stdout or "{}")
    for name, stage in stages.items():
        closure = import_closure(_entry_module(stage), clone)
        # every module the stage imports, and no other, is reported as a modified dependency
        assert _changed_code(after, name) == {path: "modified" for path in closure}, name


def write_code_deps(path: Path = REPO / "dvc.yaml") -> None:
    """Rewrite each stage's code deps in dvc.yaml to its import closure, keeping every other line."""
    stages = _stages(path.parent)
    out: list[str] = []
    stage = None
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if line.startswith("  ") and not line.startswith("   ") and line.strip().rstrip(":") in stages:
            stage = line.strip().rstrip(":")
        out.append(line)
        if stage and line == "    deps:":
            kept = [dep for dep in stages[stage]["deps"] if not dep.endswith(".py")]
            out += [f"      - {dep}" for dep in kept + sorted(import_closure(_entry_module(stages[stage])))]
            for line in lines:  # skip the old list
                if not line.startswith("      - "):
                    out.append(line)
                    break
    path.write_text("\n".join(out) + "\n")


if __name__ == "__main__":  # `.venv/bin/python tests/test_dvc_deps.py` brings dvc.yaml up to date
    write_code_deps()
