"""The output row of one image, shared by `idaas score`, the notebook API and Spark.

Columns: ``id``, ``path`` (the file read, as an absolute path, or its URI), ``width`` and
``height`` (of the original, upright image), ``error_code`` and ``error_message`` (null when the
image was answered), one column per task, and ``models``. A task column holds that task's answer
as JSON text: exactly the value the REST endpoint returns under the task's key (``{"error": {...}}`` when the task
failed on this image only), so ``json.loads(row["faces"]) == rest_row["faces"]``. ``models``
is JSON text too: task -> "name/version" of the model that answered.

Why JSON text rather than Parquet structs: every task (and every model family's options)
shapes its answer differently, a task error has another shape again, and a struct schema
would have to be fixed before the first image is seen. JSON text round-trips the wire answer
exactly, and every tool reads it: ``json.loads`` in pandas (``notebook_api.read_scores``
does it for you), ``from_json``/``get_json_object`` in Spark, ``json_extract`` in DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from vision.results import TASKS

BASE_COLUMNS = ("id", "path", "width", "height", "error_code", "error_message")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def to_record(wire: dict[str, Any], tasks: Sequence[str], path: str | None = None) -> dict[str, Any]:
    """One wire row (docs/wire-contract.md) -> one flat output row."""
    error = wire.get("error") or {}
    record: dict[str, Any] = {
        "id": wire.get("id"),
        "path": path,
        "width": wire.get("width"),
        "height": wire.get("height"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
    }
    for task in tasks:
        record[task] = dumps(wire[task]) if wire.get(task) is not None else None
    record["models"] = dumps(wire.get("models") or {})
    return record


def to_wire(record: dict[str, Any]) -> dict[str, Any]:
    """One flat output row -> the wire row it came from (for comparing paths of scoring)."""
    row: dict[str, Any] = {
        "id": record.get("id"),
        "width": _int(record.get("width")),
        "height": _int(record.get("height")),
    }
    for task in TASKS:
        value = record.get(task)
        if isinstance(value, str):
            row[task] = json.loads(value)
        elif isinstance(value, dict):
            row[task] = value
    models = record.get("models")
    row["models"] = json.loads(models) if isinstance(models, str) else dict(models or {})
    code = record.get("error_code")
    row["error"] = {"code": code, "message": record.get("error_message")} if isinstance(code, str) else None
    return row


def _int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return int(value)


def task_columns(columns: Iterable[str]) -> list[str]:
    """The task columns among ``columns``, in the wire's task order."""
    present = set(columns)
    return [t for t in TASKS if t in present]


def arrow_schema(tasks: Sequence[str]) -> pa.Schema:
    """The result columns' types (metadata columns keep their own types and come after)."""
    fields = [
        pa.field("id", pa.string()),
        pa.field("path", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("error_code", pa.string()),
        pa.field("error_message", pa.string()),
    ]
    fields += [pa.field(task, pa.string()) for task in tasks]
    fields.append(pa.field("models", pa.string()))
    return pa.schema(fields)
