"""The signature and input example every idaas pyfunc is logged with.

MLflow drops request parameters that the ParamSchema does not declare and type-checks the
declared ones, and it fills in a declared default when a request leaves a parameter out.
So every parameter any adapter of the bundle takes is declared; where two models of a bundle
default a shared name differently (``min_score`` is 0.0 for classify and 0.9 for faces), the
declared default is None, which the adapters read as "use my own default".
"""

from __future__ import annotations

import base64
import io
from typing import Any

from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

_DTYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


def input_schema() -> Schema:
    return Schema(
        [
            # "string", not "binary": for a binary column the scoring server base64-decodes the
            # whole column before predict, so ONE bad base64 image fails the whole request with a
            # 400. As a string column the text reaches vision.image_input, which refuses a bad one
            # in its own row. In-process callers and Spark still pass bytes: MLflow's enforcement
            # lets bytes through a string column unchanged.
            ColSpec("string", "image"),
            ColSpec("string", "id", required=False),
            ColSpec("string", "tasks", required=False),
        ]
    )


def output_schema() -> Schema:
    # One JSON document (the wire row) per image: what output="json" returns, and the type
    # mlflow.pyfunc.spark_udf derives (a string column). output="records" returns the same
    # rows as objects.
    return Schema([ColSpec("string", "json")])


def param_schema(pipeline) -> ParamSchema:
    """tasks, output, and the union of the bundle's adapters' parameters (their Params models)."""
    defaults: dict[str, list[Any]] = {}
    kinds: dict[str, type] = {}
    for loaded in pipeline.models.values():
        adapter = loaded.adapter
        types = adapter.param_types()
        for name, value in adapter.resolve_params({}).items():
            defaults.setdefault(name, []).append(value)
            kinds.setdefault(name, types[name])
    specs = [ParamSpec("tasks", "string", ""), ParamSpec("output", "string", "records")]
    for name in sorted(defaults):
        values = defaults[name]
        default = values[0] if all(v == values[0] for v in values) else None
        specs.append(ParamSpec(name, _DTYPES.get(kinds[name], "string"), default))
    return ParamSchema(specs)


def model_signature(pipeline) -> ModelSignature:
    return ModelSignature(inputs=input_schema(), outputs=output_schema(), params=param_schema(pipeline))


def example_image(side: int = 160) -> bytes | None:
    """A small real photo (a JPEG thumbnail of a bundled sample), or None where none is installed."""
    from PIL import Image

    from vision.samples import sample_photos

    try:
        photos = sample_photos()
    except FileNotFoundError:
        return None
    for name in ("bus.jpg", "grace_hopper.jpg", "astronaut.png"):
        if name in photos:
            with Image.open(photos[name]) as opened:
                img = opened.convert("RGB")
                img.thumbnail((side, side))
                out = io.BytesIO()
                img.save(out, format="JPEG", quality=85)
                return out.getvalue()
    return None


def input_example():
    """A one-row DataFrame as a REST client sends it (base64 text; MLflow stores it as JSON)."""
    import pandas as pd

    image = example_image()
    if image is None:
        return None
    return pd.DataFrame({"id": ["example"], "image": [base64.b64encode(image).decode()]})
