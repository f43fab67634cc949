"""The one MLflow pyfunc for every idaas bundle: one model or the many-model router.

Loaded from the model folder alone (the vision and registry packages travel as code_paths),
it rebuilds the bundle's adapters and answers a DataFrame of images with the wire rows of
docs/wire-contract.md. A bad image fails its own row; a bad request raises MlflowException's
INVALID_PARAMETER_VALUE, which the scoring server turns into a 400 without a stack trace.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

OUTPUTS = ("records", "json")
# Request-level parameters that the pyfunc consumes itself rather than routing to adapters.
OWN_PARAMS = ("tasks", "output")


def _bad(message: str) -> MlflowException:
    return MlflowException.invalid_parameter_value(message)


def _refusal(exc) -> MlflowException:
    """The MLflow error (and so the HTTP status) for an idaas request-level error."""
    from mlflow.protos.databricks_pb2 import DEADLINE_EXCEEDED, TEMPORARILY_UNAVAILABLE

    from vision.errors import ErrorCode

    if exc.code == ErrorCode.OVERLOADED:  # 503: come back shortly
        return MlflowException(f"[{exc.code.value}] {exc.message}", error_code=TEMPORARILY_UNAVAILABLE)
    if exc.code == ErrorCode.TIMEOUT:  # 504
        return MlflowException(f"[{exc.code.value}] {exc.message}", error_code=DEADLINE_EXCEEDED)
    return _bad(exc.message)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def _approx_bytes(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, str):
        return len(value) * 3 // 4  # base64 text
    return 0


class IdaasModel(PythonModel):
    """Answers "what is in these images?" with the models of one bundle."""

    def load_context(self, context) -> None:
        from vision.settings import apply_offline_env

        settings = apply_offline_env()
        from registry.bundle import load_pipeline

        self.settings = settings
        self.pipeline = load_pipeline(context.artifacts["bundle"])

    # The pandas type hint tells MLflow not to infer or validate from hints: the explicit
    # signature (registry/signature.py) is the contract.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        from vision.errors import BadRequestError, OverloadedError, RequestTimeoutError

        params = {k: v for k, v in dict(params or {}).items() if not _missing(v)}
        output = str(params.pop("output", "") or "records")
        if output not in OUTPUTS:
            raise _bad(f"parameter 'output' must be one of {', '.join(OUTPUTS)}, got {output!r}")
        tasks = params.pop("tasks", None)
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if "image" not in frame.columns:
            raise _bad("the input needs an 'image' column (the image file's bytes, or base64 text)")
        images = [None if _missing(v) else v for v in frame["image"].tolist()]
        if self.settings.enforce_request_limits:  # servers only; a Spark task's batch is not a request
            limit = self.settings.max_images_per_request
            if len(frame) > limit:
                raise _bad(f"{len(frame)} images in one request; the limit is {limit}")
            size = sum(_approx_bytes(v) for v in images)
            if size > self.settings.max_request_bytes:
                raise _bad(
                    f"the request carries {size} bytes of images; the limit is {self.settings.max_request_bytes}"
                )
        ids = [None if _missing(v) else str(v) for v in frame["id"].tolist()] if "id" in frame.columns else None
        row_tasks = None
        if "tasks" in frame.columns:
            row_tasks = [None if _missing(v) or not str(v).strip() else str(v) for v in frame["tasks"].tolist()]
        # A server's request has a deadline (its 504 timeout): past it, the images this request
        # still has queued are dropped rather than computed for a caller who has gone.
        timeout = self.settings.request_timeout_s if self.settings.enforce_request_limits else None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            answers = self.pipeline.annotate(
                images, ids=ids, tasks=tasks, row_tasks=row_tasks, params=params, deadline=deadline
            )
        except (BadRequestError, OverloadedError, RequestTimeoutError) as exc:
            raise _refusal(exc) from None
        rows = [answer.to_wire() for answer in answers]
        if self.settings.allow_unreviewed:  # `idaas serve --allow-unreviewed`: no answer passes as gated
            for row in rows:
                row["models"] = {task: f"{ref} [UNREVIEWED]" for task, ref in (row.get("models") or {}).items()}
        if output == "json":
            return pd.DataFrame({"json": [json.dumps(row) for row in rows]})
        return rows
