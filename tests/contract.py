"""Checks a live answer against the served OpenAPI document (/openapi.json of the front)."""

from __future__ import annotations

from typing import Any

import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi


class Contract:
    """The document's schemas, with a validator per response the tests look at."""

    def __init__(self, doc: dict[str, Any]):
        validate_openapi(doc)  # a valid OpenAPI 3.1 document, or this raises
        self.doc = doc
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def fetch(cls, url: str) -> Contract:
        response = requests.get(f"{url}/openapi.json", timeout=30)
        response.raise_for_status()
        return cls(response.json())

    def _validator(self, name: str) -> Draft202012Validator:
        if name not in self._validators:
            # The components travel inside the root schema so that "#/components/..." refs resolve.
            schema = {"$ref": f"#/components/schemas/{name}", "components": self.doc["components"]}
            self._validators[name] = Draft202012Validator(schema)
        return self._validators[name]

    def check(self, name: str, value: Any) -> Any:
        errors = sorted(self._validator(name).iter_errors(value), key=lambda e: list(e.path))
        assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errors[:5])
        return value

    def check_response(self, response: requests.Response, *, errors_too: bool = True) -> requests.Response:
        """A 200 must be an InvocationResponse; an error (from the front) an Error."""
        if response.status_code == 200:
            self.check("InvocationResponse", response.json())
        elif errors_too:
            assert str(response.status_code) in self.doc["paths"]["/invocations"]["post"]["responses"], (
                response.status_code
            )
            self.check("Error", response.json())
        return response
