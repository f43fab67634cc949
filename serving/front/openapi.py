"""The wire contract as an OpenAPI 3.1 document, generated from the result types
(vision/results.py) and the served model's parameter schema, plus a self-contained /docs page
(no script or stylesheet from a CDN: nothing leaves the machine, not even from a browser).
"""

from __future__ import annotations

import html
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from serving.front.errors import ERRORS, MAX_MESSAGE
from serving.front.limits import DATA_KEYS
from vision.results import RESULT_TYPES, ErrorInfo
from vision.settings import Settings

REF = "#/components/schemas/{model}"
_PARAM_TYPES = {
    "long": "integer",
    "integer": "integer",
    "double": "number",
    "float": "number",
    "boolean": "boolean",
    "string": "string",
}


class TaskError(BaseModel):
    """A task that failed for this image only (the others still answered)."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorInfo


class JsonPrediction(BaseModel):
    """One answer row as a JSON string (params.output = "json")."""

    model_config = ConfigDict(extra="forbid")
    json_: str = Field(alias="json")


class Error(BaseModel):
    """Every error the front answers: a stable code and one short plain line."""

    model_config = ConfigDict(extra="forbid")
    error_code: str = Field(json_schema_extra={"enum": sorted(ERRORS)})
    message: str = Field(max_length=MAX_MESSAGE)


def prediction_model() -> type[BaseModel]:
    """The wire row (vision.results.ImageAnswer.to_wire) as a closed schema."""
    fields: dict[str, Any] = {
        "id": (str | None, Field(None, description="the request row's id")),
        "width": (int | None, Field(None, description="upright width in pixels; null when the image failed")),
        "height": (int | None, None),
    }
    for task, result_type in RESULT_TYPES.items():
        fields[task] = (result_type | TaskError | None, Field(None, description=f"the {task} answer, when asked"))
    fields["models"] = (dict[str, str], Field(description="task -> the model version that answered it (name/N)"))
    fields["error"] = (ErrorInfo | None, Field(description="why this image failed; null when it did not"))
    return create_model("Prediction", __config__=ConfigDict(extra="forbid"), **fields)


def _params_schema(param_specs: list[dict[str, Any]]) -> dict[str, Any]:
    properties = {}
    for spec in param_specs:
        prop: dict[str, Any] = {"type": _PARAM_TYPES.get(spec["type"], "string")}
        if spec.get("default") is not None:
            prop["default"] = spec["default"]
        properties[spec["name"]] = prop
    properties.setdefault("tasks", {"type": "string"})["description"] = (
        "comma-separated tasks to run (default: every task of the endpoint); a row's own 'tasks' overrides it"
    )
    return {
        "type": "object",
        "properties": properties,
        "description": "Each model receives only the parameters it declares; MLflow drops undeclared ones.",
    }


def _request_schemas(settings: Settings) -> dict[str, Any]:
    limit = settings.max_images_per_request
    record = {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "description": "the image file's bytes as base64 (a data: prefix is allowed)"},
            "id": {"type": "string", "description": "echoed back in the answer row"},
            "tasks": {"type": "string", "description": "this row's tasks, overriding params.tasks"},
        },
    }
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}, "contains": {"const": "image"}},
            "data": {"type": "array", "maxItems": limit, "items": {"type": "array"}},
        },
    }
    params = {"$ref": REF.format(model="Params")}
    shapes = [
        {
            "type": "object",
            "required": ["dataframe_records"],
            "properties": {
                "dataframe_records": {"type": "array", "maxItems": limit, "items": record},
                "params": params,
            },
        },
        {"type": "object", "required": ["dataframe_split"], "properties": {"dataframe_split": split, "params": params}},
    ]
    shapes += [
        {"type": "object", "required": [key], "properties": {key: {}, "params": params}} for key in DATA_KEYS[2:]
    ]
    return {
        "Record": record,
        "InvocationRequest": {
            "oneOf": shapes,
            "description": (
                f"The MLflow scoring protocol. At most {limit} images, {settings.max_request_bytes} bytes in all, "
                f"{settings.max_metadata_bytes} bytes besides the images, JSON nested at most "
                f"{settings.max_json_depth} deep."
            ),
        },
    }


def build(
    param_specs: list[dict[str, Any]],
    settings: Settings,
    *,
    title: str = "idaas",
    model_uri: str = "",
    version: str = "1",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one served model."""
    prediction = prediction_model()
    _, top = models_json_schema(
        [(prediction, "serialization"), (JsonPrediction, "serialization"), (Error, "serialization")], ref_template=REF
    )
    schemas = dict(top.get("$defs", {}))
    schemas["Params"] = _params_schema(param_specs)
    schemas.update(_request_schemas(settings))
    schemas["InvocationResponse"] = {
        "type": "object",
        "required": ["predictions"],
        "additionalProperties": False,
        "properties": {
            "predictions": {
                "type": "array",
                "items": {
                    "anyOf": [{"$ref": REF.format(model="Prediction")}, {"$ref": REF.format(model="JsonPrediction")}]
                },
            }
        },
    }
    error = {"content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    errors = {
        str(status): {"description": ", ".join(sorted(c for c, s in ERRORS.items() if s == status)), **error}
        for status in sorted(set(ERRORS.values()))
    }
    plain_ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Images in, what is in them out. One endpoint for every task; each answer names the model "
                f"versions that produced it. Serving {model_uri}."
            ),
        },
        "paths": {
            "/invocations": {
                "post": {
                    "operationId": "invocations",
                    "summary": "Answer the tasks asked for, for every image",
                    "parameters": [
                        {
                            "name": "X-Request-Id",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                            "description": "echoed in the response header and the request log",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="InvocationRequest")}},
                            "text/csv": {"schema": {"type": "string"}},
                            "application/vnd.apache.parquet": {
                                "schema": {"type": "string", "contentMediaType": "application/vnd.apache.parquet"}
                            },
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "one row per image, in request order",
                            "content": {
                                "application/json": {"schema": {"$ref": REF.format(model="InvocationResponse")}}
                            },
                        },
                        **errors,
                    },
                }
            },
            "/ping": {
                "get": {
                    "operationId": "ping",
                    "summary": "200 once the models are loaded (MLflow's probe)",
                    "responses": {"200": {"description": "loaded"}},
                }
            },
            "/health": {"get": {"operationId": "health", "summary": "the process is alive", "responses": plain_ok}},
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "models loaded and warmed up",
                    "responses": {**plain_ok, "503": {"description": "not ready", **error}},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus text format",
                    "responses": {
                        "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}
                    },
                }
            },
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "this document", "responses": plain_ok}},
        },
        "components": {"schemas": schemas},
    }


def docs_page(doc: dict[str, Any]) -> str:
    """A plain HTML page: endpoints, parameters, error codes, schemas (no external assets)."""
    esc = html.escape
    rows = "".join(
        f"<tr><td><code>{esc(method.upper())} {esc(path)}</code></td><td>{esc(op.get('summary', ''))}</td></tr>"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    )
    params = doc["components"]["schemas"]["Params"]["properties"]
    param_rows = "".join(
        f"<tr><td><code>{esc(name)}</code></td><td>{esc(p.get('type', ''))}</td>"
        f"<td>{esc(json.dumps(p.get('default')) if 'default' in p else '')}</td></tr>"
        for name, p in sorted(params.items())
    )
    error_rows = "".join(
        f"<tr><td><code>{esc(code)}</code></td><td>{status}</td></tr>"
        for code, status in sorted(ERRORS.items(), key=lambda kv: (kv[1], kv[0]))
    )
    schemas = esc(json.dumps(doc["components"]["schemas"], indent=2))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(doc["info"]["title"])} API</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
td,th{{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}}pre{{background:#f6f6f6;padding:1em;
overflow:auto}}</style></head><body>
<h1>{esc(doc["info"]["title"])} {esc(doc["info"]["version"])}</h1><p>{esc(doc["info"]["description"])}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI {esc(doc["openapi"])}).</p>
<h2>Endpoints</h2><table>{rows}</table>
<h2>Request</h2><pre>{
        esc(
            json.dumps(
                {"dataframe_records": [{"id": "photo-1", "image": "<base64>"}], "params": {"tasks": "classify,faces"}},
                indent=2,
            )
        )
    }</pre>
<h2>Parameters</h2><table><tr><th>name</th><th>type</th><th>default</th></tr>{param_rows}</table>
<h2>Errors</h2><p>Every error is <code>{{"error_code": ..., "message": ...}}</code>.</p>
<table><tr><th>error_code</th><th>HTTP</th></tr>{error_rows}</table>
<h2>Schemas</h2><pre>{schemas}</pre></body></html>
"""
