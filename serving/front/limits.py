"""What the front checks before MLflow's app parses anything: content type, JSON well-formed
and shallow, rows, and bytes besides the images. Parquet is judged from its footer, so a small
body that declares millions of rows is refused before one row is built.

Each check returns the request's facts (rows, tasks asked for) for the metrics and the log,
or raises FrontError with a message that never quotes the body.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from serving.front.errors import FrontError
from vision.settings import Settings

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
MEDIA_TYPES = (JSON, CSV, PARQUET)
IMAGE_COLUMN = "image"
DATA_KEYS = ("dataframe_records", "dataframe_split", "instances", "inputs")


@dataclass
class RequestFacts:
    """What the front learned about a request without running it."""

    media_type: str
    rows: int = 0
    tasks: list[str] = field(default_factory=list)


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, or a 415 when it is missing or not one we take."""
    if not content_type or not content_type.strip():
        raise FrontError(
            "unsupported_media_type",
            "the request has no Content-Type header; send "
            "'Content-Type: application/json' (or text/csv, "
            "application/vnd.apache.parquet)",
        )
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime not in MEDIA_TYPES:
        raise FrontError(
            "unsupported_media_type",
            f"Content-Type {mime[:60]!r} is not accepted; send "
            "application/json, text/csv or application/vnd.apache.parquet",
        )
    return mime


def inspect(body: bytes, mime: str, settings: Settings) -> RequestFacts:
    if mime == JSON:
        return _inspect_json(body, settings)
    if mime == CSV:
        return _inspect_csv(body, settings)
    return _inspect_parquet(body, settings)


def _check_counts(facts: RequestFacts, metadata_bytes: int, settings: Settings) -> RequestFacts:
    if facts.rows > settings.max_images_per_request:
        raise FrontError(
            "too_many_images", f"{facts.rows} images in one request; the limit is {settings.max_images_per_request}"
        )
    if metadata_bytes > settings.max_metadata_bytes:
        raise FrontError(
            "metadata_too_large",
            f"the request carries {metadata_bytes} bytes besides its images "
            f"(ids, tasks, parameters); the limit is {settings.max_metadata_bytes}",
        )
    return facts


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, iteratively (a deep body must not recurse here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _inspect_json(body: bytes, settings: Settings) -> RequestFacts:
    try:
        payload = json.loads(body)
    except RecursionError:
        raise FrontError("json_too_deep", f"the JSON body nests deeper than {settings.max_json_depth} levels") from None
    except UnicodeDecodeError:
        raise FrontError("invalid_json", "the body is not valid JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise FrontError(
            "invalid_json", f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if _depth(payload, settings.max_json_depth) > settings.max_json_depth:
        raise FrontError("json_too_deep", f"the JSON body nests deeper than {settings.max_json_depth} levels")
    if not isinstance(payload, dict) or not any(key in payload for key in DATA_KEYS):
        raise FrontError(
            "invalid_body",
            f"the JSON body must be an object with one of {', '.join(DATA_KEYS)} (and optionally params)",
        )
    key = next(key for key in DATA_KEYS if key in payload)
    data = payload[key]
    images = _json_images(key, data)
    facts = RequestFacts(JSON, rows=len(images))
    params = payload.get("params")
    if isinstance(params, dict) and isinstance(params.get("tasks"), str):
        facts.tasks = [t.strip() for t in params["tasks"].split(",") if t.strip()]
    image_bytes = sum(len(v) for v in images if isinstance(v, str))
    return _check_counts(facts, len(body) - image_bytes, settings)


def _json_images(key: str, data: Any) -> list[Any]:
    """The image cells of a scoring-protocol body (one per row), however it is laid out."""
    if key == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise FrontError("invalid_body", "dataframe_split must be an object with 'columns' and 'data'")
        columns = data.get("columns") or []
        at = columns.index(IMAGE_COLUMN) if isinstance(columns, list) and IMAGE_COLUMN in columns else None
        return [row[at] if at is not None and isinstance(row, list) and at < len(row) else None for row in data["data"]]
    if isinstance(data, dict):  # columns as lists ("inputs"/"instances" in columnar form)
        lengths = [len(v) for v in data.values() if isinstance(v, list)]
        column = data.get(IMAGE_COLUMN)
        return list(column) if isinstance(column, list) else [None] * max(lengths, default=1)
    if isinstance(data, list):
        return [row.get(IMAGE_COLUMN) if isinstance(row, dict) else None for row in data]
    raise FrontError("invalid_body", f"{key} must be a list of rows or an object of columns")


def _inspect_csv(body: bytes, settings: Settings) -> RequestFacts:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FrontError("invalid_csv", "the CSV body is not UTF-8 text") from None
    # The csv module caps a field at 128 KB by default, process-wide; a base64 photo is larger.
    # The body's own limit is the right cap (the setting only ever grows, so threads agree).
    if csv.field_size_limit() < settings.max_request_bytes:
        csv.field_size_limit(settings.max_request_bytes)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, image_bytes, at = 0, 0, None
    try:
        header = next(reader, [])
        at = header.index(IMAGE_COLUMN) if IMAGE_COLUMN in header else None
        for row in reader:
            rows += 1
            if rows > settings.max_images_per_request:
                break  # refused below; no need to read the rest
            if at is not None and at < len(row):
                image_bytes += len(row[at])
    except csv.Error as exc:
        raise FrontError("invalid_csv", f"the CSV body could not be read at line {reader.line_num}: {exc}") from None
    return _check_counts(RequestFacts(CSV, rows=rows), len(body) - image_bytes, settings)


def _inspect_parquet(body: bytes, settings: Settings) -> RequestFacts:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(pa.BufferReader(body)).metadata
    except Exception:  # noqa: BLE001 - pyarrow raises several types for a bad footer; all mean "not Parquet"
        raise FrontError("invalid_parquet", "the body is not a readable Parquet file") from None
    facts = RequestFacts(PARQUET, rows=meta.num_rows)
    if facts.rows > settings.max_images_per_request:
        return _check_counts(facts, 0, settings)
    # The footer declares what the frame would take in memory; a few compressed rows can
    # inflate to gigabytes, so that size is held to the request limit too.
    inflated, metadata_bytes = 0, 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            inflated += chunk.total_uncompressed_size
            if chunk.path_in_schema != IMAGE_COLUMN:
                metadata_bytes += chunk.total_uncompressed_size
    if inflated > settings.max_request_bytes:
        raise FrontError(
            "payload_too_large",
            f"the Parquet body inflates to {inflated} bytes; the limit is {settings.max_request_bytes}",
        )
    return _check_counts(facts, metadata_bytes, settings)
