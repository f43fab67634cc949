"""Python client for an idaas endpoint (`idaas serve`, or any `mlflow models serve` of an idaas model)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from vision.errors import BadRequestError, ErrorCode, IdaasError, OverloadedError, RequestTimeoutError
from vision.results import ImageAnswer

# HTTP status -> the error a caller catches (the front's table is serving/front/errors.py).
_ERRORS: dict[int, type[IdaasError]] = {
    400: BadRequestError,
    413: BadRequestError,
    415: BadRequestError,
    503: OverloadedError,
    504: RequestTimeoutError,
}


def _b64(image: bytes | str | Path) -> str:
    if isinstance(image, Path):
        image = image.read_bytes()
    if isinstance(image, str):
        return image  # already base64 text
    return base64.b64encode(image).decode("ascii")


class IdaasClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 120.0,
        session: requests.Session | None = None,
        auth: tuple[str, str] | None = None,
    ):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        if auth:
            self.session.auth = auth
        self.last_request_id: str | None = None  # the server's id of the last request (X-Request-Id)

    def ping(self) -> bool:
        try:
            return self.session.get(f"{self.url}/ping", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def request_body(
        self,
        images: Sequence[bytes | str | Path],
        *,
        ids: Sequence[str] | None = None,
        tasks: str | Sequence[str] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """The JSON body of the wire contract (docs/wire-contract.md)."""
        ids = list(ids) if ids is not None else [str(i) for i in range(len(images))]
        body_params = {k: v for k, v in params.items() if v is not None}
        if tasks:
            body_params["tasks"] = tasks if isinstance(tasks, str) else ",".join(tasks)
        body: dict[str, Any] = {"dataframe_records": [{"id": i, "image": _b64(img)} for i, img in zip(ids, images)]}
        if body_params:
            body["params"] = body_params
        return body

    def annotate_raw(self, images: Sequence[bytes | str | Path], **kwargs: Any) -> list[dict[str, Any]]:
        """The wire rows, exactly as the server sent them."""
        response = self.session.post(
            f"{self.url}/invocations", json=self.request_body(images, **kwargs), timeout=self.timeout
        )
        self.last_request_id = response.headers.get("x-request-id")
        if response.status_code != 200:
            raise _error(response)
        return response.json()["predictions"]

    def annotate(self, images: Sequence[bytes | str | Path], **kwargs: Any) -> list[ImageAnswer]:
        return [ImageAnswer.from_wire(row) for row in self.annotate_raw(images, **kwargs)]


def _error(response: requests.Response) -> IdaasError:
    """The server's {"error_code", "message"} as the matching IdaasError."""
    try:
        message = str(response.json().get("message") or response.text[:300])
    except (ValueError, AttributeError):
        message = response.text[:300]
    cls = _ERRORS.get(response.status_code)
    if cls is None:
        return IdaasError(f"the server answered HTTP {response.status_code}: {message}", ErrorCode.SERVER_UNAVAILABLE)
    return cls(message)
