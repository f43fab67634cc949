"""What a model is, independent of where it is stored: the spec an adapter is built from.

The registry saves this spec next to the weights in every model version, so a version can
be rebuilt from its folder alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vision.errors import ModelSpecError
from vision.results import TASKS


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="registered model name, e.g. classify-mobilenet-v2")
    task: str = Field(description="wire name of the task: " + ", ".join(TASKS))
    family: str = Field(description="adapter family, e.g. torchvision, hf-classifier, yolo, mtcnn")
    weights: str | None = Field(
        None,
        description="weight source: local path, hf:ORG/NAME, ultralytics:NAME, "
        "torchvision:NAME or pack:NAME; None for model-free tasks",
    )
    labels: list[str] | None = Field(None, description="class names, when the weights do not carry them")
    options: dict[str, Any] = Field(default_factory=dict, description="family options (input size, defaults...)")
    description: str = ""

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"unknown task {value!r}; expected one of {', '.join(TASKS)}")
        return value

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        try:
            return cls.model_validate(yaml.safe_load(Path(path).read_text()))
        except FileNotFoundError:
            raise ModelSpecError(f"no model spec at {path}") from None
        except (yaml.YAMLError, ValueError) as exc:
            raise ModelSpecError(f"invalid model spec {path}: {exc}") from None
