"""What every stage shares: its command line, the offline setup, MLflow's experiment, and one
plain line (never a traceback) when it has to stop.

Each stage module ends with ``main = stage_main("name", run, {...})``; dvc.yaml calls
``python -m training.<stage>`` and MLproject passes its entry-point parameters as options.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.config import PARAMS_FILE, Params, ParamsError, load_params
from training.determinism import make_deterministic, run_facts
from vision.errors import IdaasError
from vision.settings import apply_offline_env


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def read_json(path: Path, made_by: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path} is missing: run the {made_by} stage first (dvc repro runs it for you)") from None


def start_tracking() -> str:
    """Point MLflow at the project's registry store (runs land in its "idaas" experiment)."""
    from registry.store import configure

    return configure()


def training_run(name: str, params: Params):
    """A new MLflow run for a training stage, or a child of the project run when `mlflow run` started us;
    tagged with the seed, thread count and library versions its numbers depend on.

    `mlflow run` hands its run to the command in MLFLOW_RUN_ID; left there, both training
    stages of `mlflow run .` (which runs `dvc repro`) would log into that one run.
    """
    import mlflow

    parent = os.environ.pop("MLFLOW_RUN_ID", None)
    return mlflow.start_run(run_name=name, parent_run_id=parent, tags=run_facts(params.seed, params.threads))


def stage_main(name: str, run: Callable[[Params], None], options: dict[str, str] | None = None) -> Callable[..., None]:
    """A command line for one stage: ``--params FILE``, ``--set key=value`` and named shortcuts.

    ``options`` maps an option name to the dotted parameter it overrides; an empty value
    means "keep params.yaml's", which is how MLproject's empty defaults defer to the file.
    """
    options = options or {}

    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(
            prog=f"python -m training.{name}", description=(run.__doc__ or "").strip().splitlines()[0]
        )
        parser.add_argument("--params", default=str(PARAMS_FILE), help="parameter file (default: params.yaml)")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override any parameter, e.g. --set classifier.epochs=1 (repeatable)",
        )
        for option, dotted in options.items():
            parser.add_argument(f"--{option}", default="", metavar="VALUE", help=f"overrides {dotted}")
        args = parser.parse_args(argv)
        apply_offline_env()
        try:
            overrides: dict[str, str] = {}
            for item in filter(None, args.set):  # MLproject passes an empty --set when none is given
                key, sep, value = item.partition("=")
                if not sep or not key.strip():
                    raise ParamsError(f"--set takes KEY=VALUE, got {item!r}")
                overrides[key.strip()] = value
            for option, dotted in options.items():
                value = getattr(args, option.replace("-", "_"))
                if value != "":
                    overrides[dotted] = value
            params = load_params(args.params, overrides)
            make_deterministic(params.seed, params.threads)
            run(params)
        except IdaasError as exc:
            _stop(name, f"[{exc.code.value}] {exc.message}")
        except KeyboardInterrupt:
            _stop(name, "interrupted", 130)
        except Exception as exc:  # noqa: BLE001 - a stage stops with one line; IDAAS_DEBUG shows the traceback
            if os.environ.get("IDAAS_DEBUG"):
                raise
            from mlflow.exceptions import MlflowException

            message = exc.message if isinstance(exc, MlflowException) else str(exc)
            first = (message.strip().splitlines() or [""])[0]
            _stop(name, f"[{type(exc).__name__}] {first} (IDAAS_DEBUG=1 shows the traceback)")

    return main


def _stop(stage: str, message: str, status: int = 1) -> None:
    print(f"{stage}: error {message}", file=sys.stderr)
    sys.exit(status)
