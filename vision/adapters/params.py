"""The request parameters of every model family, declared once with their types, defaults and
ranges. Adapters check requests against these; the MLflow ParamSchema of every bundle is
derived from them (registry/signature.py), so the contract and the checks cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ZEROSHOT_LABELS = 256


class _Params(BaseModel):
    # Parameters meant for other models of the bundle are routed away before validation;
    # anything left over is simply not this family's.
    model_config = ConfigDict(extra="ignore")


class ClassifyParams(_Params):
    top_k: int = Field(5, ge=1, le=1000, description="how many labels to return")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="drop labels scoring below this")


class DetectParams(_Params):
    min_score: float = Field(0.25, ge=0.0, le=1.0, description="drop objects scoring below this")
    max_detections: int = Field(100, ge=1, le=1000, description="at most this many objects per image")


class CaptionParams(_Params):
    max_new_tokens: int = Field(30, ge=1, le=200, description="longest caption, in tokens")


class FacesParams(_Params):
    min_score: float = Field(0.9, ge=0.0, le=1.0, description="drop faces scoring below this")
    max_faces: int = Field(100, ge=1, le=1000, description="at most this many faces per image (largest score first)")


class OcrParams(_Params):
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="drop text lines scoring below this")


class PropertiesParams(_Params):
    colors: int = Field(5, ge=1, le=16, description="how many dominant colours to return")


class DescribeParams(_Params):
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="an attribute counts at or above this score")


class ZeroShotParams(_Params):
    labels: str = Field("", description="the candidate labels, separated by ',' (or '|' when a label holds a comma)")
    top_k: int = Field(5, ge=1, le=MAX_ZEROSHOT_LABELS, description="how many labels to return")

    @field_validator("labels", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        # A JSON list keeps commas inside its labels.
        if isinstance(value, (list, tuple)):
            return "|".join(str(v) for v in value)
        return value
