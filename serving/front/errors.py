"""The one error table of the HTTP front: every code a client can receive, its HTTP status,
and the rewrite of whatever MLflow's scoring app answered into that shape.

A client gets ``{"error_code": CODE, "message": TEXT}`` and nothing else: no stack trace, no
server path, no echo of the request beyond a short quoted value, at most MAX_MESSAGE chars.
"""

from __future__ import annotations

import json
import re

from vision.errors import ErrorCode

MAX_MESSAGE = 300

# code -> HTTP status. The codes are part of the wire contract: never rename one.
ERRORS: dict[str, int] = {
    ErrorCode.BAD_REQUEST.value: 400,  # the router refused the request (unknown task, bad parameter ...)
    ErrorCode.REQUEST_TOO_LARGE.value: 400,  # over the per-request pixel budget (the engine)
    "invalid_json": 400,
    "json_too_deep": 400,
    "invalid_csv": 400,
    "invalid_parquet": 400,
    "invalid_body": 400,  # well-formed, but not one of the scoring protocol's shapes
    "too_many_images": 400,
    "metadata_too_large": 400,  # ids, tasks and params besides the images
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "internal_error": 500,
    ErrorCode.OVERLOADED.value: 503,
    "not_ready": 503,
    ErrorCode.TIMEOUT.value: 504,
}

# MLflow's error_code names (mlflow.protos.databricks_pb2) -> ours.
_FROM_MLFLOW = {
    "INVALID_PARAMETER_VALUE": ErrorCode.BAD_REQUEST.value,
    "BAD_REQUEST": ErrorCode.BAD_REQUEST.value,
    "TEMPORARILY_UNAVAILABLE": ErrorCode.OVERLOADED.value,
    "DEADLINE_EXCEEDED": ErrorCode.TIMEOUT.value,
}
# The router prefixes request-level refusals with their idaas code: "[overloaded] ...".
_CODE_PREFIX = re.compile(r"^\[([a-z_]+)\]\s*")
# Anything that looks like a file path (two or more segments) is the server's business.
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.@+~-]+){2,}[/\\]?")


class FrontError(Exception):
    """A request refused by the front, before or after MLflow's app saw it."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        if code not in ERRORS:
            raise ValueError(f"{code!r} is not in the error table")
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return ERRORS[self.code]


def clean_message(message: str) -> str:
    """One short line a caller can act on: paths masked, cut at MAX_MESSAGE characters."""
    text = " ".join(_PATH.sub("<path>", message).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error_code": code, "message": clean_message(message)}).encode()


def rewrite_inner_error(status: int, body: bytes) -> FrontError:
    """MLflow's error answer (JSON with stack_trace, or plain text) as one of ours."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        if status == 504:
            return FrontError(
                ErrorCode.TIMEOUT.value,
                "the request took longer than the server's timeout; its queued work was dropped",
            )
        if status == 415:
            return FrontError(
                "unsupported_media_type",
                "the Content-Type is not accepted; send application/json "
                "(UTF-8), text/csv or application/vnd.apache.parquet",
            )
        return FrontError("internal_error", f"the server could not answer this request (HTTP {status})")
    mlflow_code = str(payload.get("error_code", ""))
    message = str(payload.get("message", ""))
    # MLflow prefixes predict errors with "Failed to predict data '<the request's frame>'";
    # only what follows the last "Error:" is the model's own message.
    if "Failed to predict data" in message and "Error:" in message:
        message = message.rsplit("Error:", 1)[1].strip()
    code = _FROM_MLFLOW.get(mlflow_code, "internal_error")
    prefixed = _CODE_PREFIX.match(message)
    if prefixed and prefixed.group(1) in ERRORS:
        code, message = prefixed.group(1), message[prefixed.end() :]
    if payload.get("stack_trace") is not None:
        # MLflow attaches a trace where its own parsing or the model failed unexpectedly; its
        # message then quotes the parser's exception (and the input). Say what failed, plainly.
        if message.startswith("Failed to parse input as a Pandas DataFrame"):
            kind = "Parquet" if "Parquet" in message else "CSV"
            return FrontError(f"invalid_{kind.lower()}", f"the body could not be read as {kind}")
        if message.startswith("Ensure that input is a valid JSON"):
            return FrontError("invalid_json", "the body is not valid JSON")
        return FrontError("internal_error", "the model failed on this request; the server log has the details")
    if code == "internal_error" and status < 500:
        code = ErrorCode.BAD_REQUEST.value  # an MLflow-side 4xx we have no finer name for
    return FrontError(code, message or f"HTTP {status}")
