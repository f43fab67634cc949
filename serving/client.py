"""Python client for an idaas endpoint (any `mlflow models serve` of an idaas model)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Sequence

import requests

from vision.errors import BadRequestError, IdaasError
from vision.results import ImageAnswer


def _b64(image: bytes | str | Path) -> str:
    if isinstance(image, Path):
        image = image.read_bytes()
    if isinstance(image, str):
        return image  # already base64 text
    return base64.b64encode(image).decode("ascii")


class IdaasClient:
    def __init__(self, url: str, *, timeout: float = 120.0, session: requests.Session | None = None,
                 auth: tuple[str, str] | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        if auth:
            self.session.auth = auth

    def ping(self) -> bool:
        try:
            return self.session.get(f"{self.url}/ping", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def request_body(self, images: Sequence[bytes | str | Path], *, ids: Sequence[str] | None = None,
                     tasks: str | Sequence[str] | None = None, **params: Any) -> dict[str, Any]:
        """The JSON body of DESIGN.md's wire contract."""
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
        response = self.session.post(f"{self.url}/invocations", json=self.request_body(images, **kwargs),
                                     timeout=self.timeout)
        if response.status_code == 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise BadRequestError(message)
        if response.status_code != 200:
            raise IdaasError(f"the server answered HTTP {response.status_code}: {response.text[:300]}")
        return response.json()["predictions"]

    def annotate(self, images: Sequence[bytes | str | Path], **kwargs: Any) -> list[ImageAnswer]:
        return [ImageAnswer.from_wire(row) for row in self.annotate_raw(images, **kwargs)]
