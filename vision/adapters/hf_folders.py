"""Loading Hugging Face ``save_pretrained`` folders for the adapters: local files only, one
error type for a folder that cannot be loaded, and the decode size a processor needs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from vision.errors import WeightsUnavailableError
from vision.image_input import DecodedImage

T = TypeVar("T")
# What every Hugging Face family imports (fast image processors use torchvision).
HF_REQUIREMENTS = ("transformers", "tokenizers", "safetensors", "huggingface_hub", "torchvision")


def pretrained_folder(weights: Path | None, family: str) -> Path:
    """The folder a family loads from; a hub id must already be resolved to one (vision.weights)."""
    folder = Path(weights) if weights is not None else None
    if folder is None or not folder.is_dir() or not (folder / "config.json").exists():
        raise WeightsUnavailableError(
            f"{family} needs a save_pretrained folder (with config.json), got {weights}; "
            "register hf:ORG/NAME or a folder written by save_pretrained"
        )
    return folder


def from_folder(cls: type[T], folder: Path, **kwargs: Any) -> T:
    """``cls.from_pretrained(folder)`` without any network access, failing with a typed error."""
    try:
        return cls.from_pretrained(str(folder), local_files_only=True, **kwargs)  # type: ignore[attr-defined]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsUnavailableError(f"cannot load {cls.__name__} from {folder}: {exc}") from None


def place(model: Any, device: str, half: bool) -> Any:
    """Move a model to its device, in half precision on GPU, in eval mode."""
    model = model.to(device)
    if half:
        model = model.half()
    return model.eval()


def processor_min_side(image_processor: Any) -> int | None:
    """The shorter side (px) an image must keep so the processor never has to upscale it.

    ``shortest_edge`` resizes keep the aspect ratio; fixed ``height``/``width`` resizes
    stretch both sides, so the shorter side must reach the larger of the two.
    """
    sizes = [getattr(image_processor, "size", None), getattr(image_processor, "crop_size", None)]
    needs = []
    for size in sizes:
        if size is None:
            continue
        get: Any = size.get if isinstance(size, dict) else lambda key, s=size: getattr(s, key, None)
        if get("shortest_edge"):
            needs.append(int(get("shortest_edge")))
        elif get("height") and get("width"):
            needs.append(max(int(get("height")), int(get("width"))))
        elif get("longest_edge"):
            needs.append(int(get("longest_edge")))
    return max(needs) if needs else None


def pixel_values(image_processor: Any, images: Sequence[DecodedImage], device: str, dtype: torch.dtype) -> torch.Tensor:
    """Run the folder's own image processor (resize, crop, normalise) on a batch."""
    batch = image_processor(images=[d.image for d in images], return_tensors="pt")["pixel_values"]
    return batch.to(device, dtype)


class ProcessorInput:
    """The input half of an adapter that runs its folder's own image processor: the decode
    size the processor needs, and the batch it makes (mixed in before Adapter)."""

    image_processor: Any

    @property
    def dtype(self) -> torch.dtype:
        return torch.float16 if self.use_half else torch.float32  # type: ignore[attr-defined]

    @property
    def min_side(self) -> int | None:
        return self.spec.options.get("min_side", processor_min_side(self.image_processor))  # type: ignore[attr-defined]

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> Any:
        return pixel_values(self.image_processor, images, self.device, self.dtype)  # type: ignore[attr-defined]
