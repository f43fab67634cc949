"""Typed errors with stable codes: the codes are part of the wire contract, never rename one."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):  # noqa: UP042 - StrEnum would change str(code) in log lines
    # Image input (vision.image_input)
    EMPTY_INPUT = "empty_input"
    INVALID_BASE64 = "invalid_base64"
    NOT_AN_IMAGE = "not_an_image"
    TRUNCATED_IMAGE = "truncated_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    IMAGE_TOO_LARGE = "image_too_large"  # bytes over the limit
    TOO_MANY_PIXELS = "too_many_pixels"  # decompression-bomb guard
    IMAGE_TOO_SMALL = "image_too_small"
    PATH_NOT_ALLOWED = "path_not_allowed"
    FILE_NOT_FOUND = "file_not_found"  # nothing at that path
    UNREADABLE_FILE = "unreadable_file"  # something there that cannot be read (a folder, permissions, I/O)
    # Models and requests
    WEIGHTS_UNAVAILABLE = "weights_unavailable"
    BAD_MODEL_SPEC = "bad_model_spec"
    BAD_REQUEST = "bad_request"
    INFERENCE_FAILED = "inference_failed"
    SERVER_UNAVAILABLE = "server_unavailable"
    REQUEST_TOO_LARGE = "request_too_large"  # over the per-request pixel budget
    OVERLOADED = "overloaded"  # a model's queue is full: try again later (HTTP 503)
    TIMEOUT = "timeout"  # the caller's deadline passed before the answers were ready
    DESCRIBE_FAILED = "describe_failed"  # the sentence could not be composed for this image


class IdaasError(Exception):
    """Base of every error a caller is expected to act on: a stable code plus a plain message."""

    code: ErrorCode = ErrorCode.BAD_REQUEST

    def __init__(self, message: str, code: ErrorCode | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


class ImageInputError(IdaasError):
    """An image could not be accepted; fails that image only, never its batch."""


class WeightsUnavailableError(IdaasError):
    code = ErrorCode.WEIGHTS_UNAVAILABLE


class ModelSpecError(IdaasError):
    code = ErrorCode.BAD_MODEL_SPEC


class BadRequestError(IdaasError):
    code = ErrorCode.BAD_REQUEST


class OverloadedError(IdaasError):
    """A model's queue is full; the request was refused at once rather than queued forever."""

    code = ErrorCode.OVERLOADED


class RequestTimeoutError(IdaasError):
    """The caller's deadline passed; its images still queued were dropped, not computed."""

    code = ErrorCode.TIMEOUT
