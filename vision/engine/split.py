"""Taking some images' share out of a batch's raw model output.

Images that share a forward pass but differ in postprocessing parameters (top_k 3 for one
caller, 10 for another) are postprocessed in groups; each group needs its rows of the raw
output. Tensors, per-image lists and dicts of those split by row; anything else cannot be
split, and the engine then runs a separate forward pass for each group instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class Unsplittable(Exception):
    pass


def take_rows(raw: Any, rows: Sequence[int], batch: int) -> Any:
    """The part of ``raw`` that belongs to images ``rows`` of a batch of ``batch`` images."""
    if isinstance(raw, torch.Tensor):
        if raw.dim() == 0 or raw.shape[0] != batch:
            raise Unsplittable
        return raw[list(rows)]
    if isinstance(raw, (list, tuple)):
        if len(raw) != batch:
            raise Unsplittable
        return [raw[i] for i in rows]
    if isinstance(raw, dict):
        return type(raw)((key, take_rows(value, rows, batch)) for key, value in raw.items())
    raise Unsplittable
