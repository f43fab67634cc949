"""MTCNN face detection over a batch of images: facenet-pytorch's three networks (P-, R- and
O-Net) and its box arithmetic, driven so that

- a batch of images padded to one canvas runs every pyramid level of the first stage once
  (each image resized on its own, so padding changes no answer);
- every resize (the pyramid's levels and the candidates' crops) is an area average read off
  one summed-area table of the image, bit-identical to the ``F.interpolate(mode="area")``
  that facenet-pytorch calls and 2x faster than it for the pyramid on a CPU;
- the face candidates of the second and third stages are all cut out and area-resized at
  once from summed-area tables, where facenet-pytorch resizes each candidate on its own
  (2,500 small resize calls for the 13 bundled photos, each a kernel launch on a GPU);
- candidates are clipped to each image's own extent, not the padded canvas, so padding does
  not move boxes at the borders.

The arithmetic follows facenet-pytorch's ``detect_face`` step for step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from facenet_pytorch.models.utils.detect_face import batched_nms_numpy, bbreg, generateBoundingBox, rerec
from torchvision.ops import batched_nms

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (K, 4), scores (K,), landmarks (K, 5, 2)
_NORM_MEAN, _NORM_SCALE = 127.5, 0.0078125


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - _NORM_MEAN) * _NORM_SCALE


def _pyramid(height: int, width: int, min_face: int, factor: float) -> list[float]:
    scale = 12.0 / min_face
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def _integral(images: torch.Tensor) -> torch.Tensor:
    """Summed-area tables (N, H+1, W+1, C), channels last and contiguous, of the 0-255 integer
    pixels of ``images`` (N, C, H, W), in int32: exact, and a 1280x1280 canvas of white sums
    to 4.2e8, well inside int32."""
    pixels = images.permute(0, 2, 3, 1).to(torch.int32)
    table = pixels.cumsum(1, dtype=torch.int32).cumsum(2, dtype=torch.int32)
    return F.pad(table, (0, 0, 1, 0, 1, 0)).contiguous()


def _edges(length: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The [first, end) pixel of each of ``size`` bins over ``length`` pixels (adaptive pooling's bins)."""
    i = torch.arange(size, device=device)
    return (i * length) // size, ((i + 1) * length + size - 1) // size


def _area_resize(integral: torch.Tensor, height: int, width: int, size: tuple[int, int]) -> torch.Tensor:
    """The top-left ``height`` x ``width`` of one image's summed-area table (1, H+1, W+1, C)
    area-resized to ``size``: (1, h, w, C) float32, bit-identical to ``F.interpolate(mode="area")``
    (adaptive average pooling: exact integer box sums, divided by the box height, then width)."""
    rows_first, rows_end = _edges(height, size[0], integral.device)
    cols_first, cols_end = _edges(width, size[1], integral.device)
    band = integral.index_select(1, rows_end) - integral.index_select(1, rows_first)
    sums = band.index_select(2, cols_end) - band.index_select(2, cols_first)
    heights = (rows_end - rows_first).to(torch.float32)[None, :, None, None]
    widths = (cols_end - cols_first).to(torch.float32)[None, None, :, None]
    return sums.to(torch.float32) / heights / widths


def _bins(start: torch.Tensor, length: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The [first, end) pixel of each of ``size`` output bins over ``length`` pixels from
    ``start``: the bins of adaptive average pooling, which is what area resizing is."""
    i = torch.arange(size, device=start.device)
    first = start[:, None] + (i[None, :] * length[:, None]) // size
    end = start[:, None] + ((i[None, :] + 1) * length[:, None] + size - 1) // size
    return first, end


def _crops(
    integral: torch.Tensor,
    boxes: torch.Tensor,
    owners: torch.Tensor,
    extents: torch.Tensor,
    size: int,
    dtype: torch.dtype,
    layout: torch.memory_format = torch.contiguous_format,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each candidate box cut from its own image and area-resized to ``size``, exactly as
    facenet-pytorch does (box truncated to integers, clipped to the image's own extent), but
    for every candidate at once: each output pixel is a box sum read off the summed-area
    table (four lookups), where facenet-pytorch resizes each candidate on its own.
    Returns the crops and a mask of the candidates whose clipped box is not empty."""
    b = boxes[:, :4].trunc().long()
    w, h = extents[owners, 1], extents[owners, 0]
    x1 = b[:, 0].clamp(min=1) - 1
    y1 = b[:, 1].clamp(min=1) - 1
    x2 = torch.minimum(b[:, 2], w)
    y2 = torch.minimum(b[:, 3], h)
    keep = (x2 > x1) & (y2 > y1)
    x1, y1, x2, y2, owners = x1[keep], y1[keep], x2[keep], y2[keep], owners[keep]
    ys, ye = _bins(y1, y2 - y1, size)
    xs, xe = _bins(x1, x2 - x1, size)
    # Four box corners per output pixel, gathered from the tables flattened to rows of C values.
    n, h1, w1, channels = integral.shape
    table = integral.view(n * h1 * w1, channels)
    base = (owners * h1)[:, None, None]

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        flat = ((base + rows[:, :, None]) * w1 + cols[:, None, :]).reshape(-1)
        return table.index_select(0, flat).view(len(owners), size, size, channels)

    sums = corner(ye, xe) - corner(ys, xe) - corner(ye, xs) + corner(ys, xs)
    area = ((ye - ys)[:, :, None] * (xe - xs)[:, None, :])[..., None]
    return (sums.to(torch.float64) / area).permute(0, 3, 1, 2).to(dtype).contiguous(memory_format=layout), keep


def _in_chunks(net: torch.nn.Module, data: torch.Tensor, chunk: int = 2048) -> list[torch.Tensor]:
    """``net(data)`` in chunks (thousands of candidates fit, hundreds of thousands may not)."""
    parts = [net(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    if not parts:
        return []
    return [torch.cat([p[k] for p in parts]) for k in range(len(parts[0]))]


def detect_batch(
    images: torch.Tensor,
    extents: Sequence[tuple[int, int]],
    pnet,
    rnet,
    onet,
    *,
    min_face: int,
    thresholds: Sequence[float],
    factor: float,
    layout: torch.memory_format = torch.contiguous_format,
) -> list[Detections]:
    """Faces in each image of ``images`` (N, 3, H, W; pixel values 0-255, the images placed at the
    top left, zeros beyond ``extents[i] = (height, width)``), in that image's pixels. The three
    networks get their inputs in memory format ``layout`` (the one their weights are in)."""
    n = images.shape[0]
    device = images.device
    ext = torch.tensor(extents, device=device)
    empty = (np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    # Stage 1: the proposal network over each image's own scale pyramid. Each image is
    # resized on its own (as facenet-pytorch does for one image) and the level's images are
    # stacked on a zero canvas; proposal cells whose 12x12 window reaches past their image
    # are dropped, so padding changes nothing: P-Net is a valid convolution, and every cell
    # inside an image sees exactly the pixels it would see without the others.
    boxes_all, owners_all = [], []
    integral = _integral(images)
    pyramids = [_pyramid(h, w, min_face, factor) for h, w in extents]
    for level in range(max(len(p) for p in pyramids)):
        members = [i for i, p in enumerate(pyramids) if len(p) > level]
        sizes = [
            (int(extents[i][0] * pyramids[i][level] + 1), int(extents[i][1] * pyramids[i][level] + 1)) for i in members
        ]
        canvas = images.new_zeros((len(members), max(h for h, _ in sizes), max(w for _, w in sizes), images.shape[1]))
        for row, (i, (lh, lw)) in enumerate(zip(members, sizes)):
            h, w = extents[i]
            canvas[row, :lh, :lw] = _area_resize(integral[i : i + 1], h, w, (lh, lw))[0]
        reg, probs = pnet(_normalise(canvas.permute(0, 3, 1, 2)).contiguous(memory_format=layout))
        score = probs[:, 1].clone()
        cells_y = torch.arange(score.shape[1], device=device)[None, :, None] * 2 + 12
        cells_x = torch.arange(score.shape[2], device=device)[None, None, :] * 2 + 12
        limits = torch.tensor(sizes, device=device)
        outside = (cells_y > limits[:, 0, None, None]) | (cells_x > limits[:, 1, None, None])
        score[outside] = 0.0
        scale = pyramids[members[0]][level]  # every pyramid is the same sequence, cut at its own length
        boxes, rows = generateBoundingBox(reg, score, scale, thresholds[0])
        owners = torch.tensor(members, device=device)[rows]
        pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.5)
        boxes_all.append(boxes[pick])
        owners_all.append(owners[pick])
    if not boxes_all:
        return [empty] * n
    boxes, owners = torch.cat(boxes_all), torch.cat(owners_all)
    pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
    boxes, owners = boxes[pick], owners[pick]
    regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = torch.stack(
        [
            boxes[:, 0] + boxes[:, 5] * regw,
            boxes[:, 1] + boxes[:, 6] * regh,
            boxes[:, 2] + boxes[:, 7] * regw,
            boxes[:, 3] + boxes[:, 8] * regh,
            boxes[:, 4],
        ],
        dim=1,
    )
    boxes = rerec(boxes)

    # Stage 2: the refinement network on 24x24 crops of every candidate.
    if len(boxes):
        crops, keep = _crops(integral, boxes, owners, ext, 24, images.dtype, layout)
        boxes, owners = boxes[keep], owners[keep]
        reg, probs = _in_chunks(rnet, _normalise(crops))
        score = probs[:, 1]
        passed = score > thresholds[1]
        boxes = torch.cat([boxes[passed, :4], score[passed, None]], dim=1)
        owners, reg = owners[passed], reg[passed]
        pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes = rerec(bbreg(boxes[pick], reg[pick]))
        owners = owners[pick]

    # Stage 3: the output network on 48x48 crops: final boxes, scores and five landmarks.
    points = torch.zeros((0, 5, 2), device=device)
    if len(boxes):
        crops, keep = _crops(integral, boxes, owners, ext, 48, images.dtype, layout)
        boxes, owners = boxes[keep], owners[keep]
        reg, marks, probs = _in_chunks(onet, _normalise(crops))
        score = probs[:, 1]
        passed = score > thresholds[2]
        boxes = torch.cat([boxes[passed, :4], score[passed, None]], dim=1)
        owners, reg, marks = owners[passed], reg[passed], marks[passed]
        box_w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        box_h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        xs = box_w * marks[:, :5] + boxes[:, 0:1] - 1
        ys = box_h * marks[:, 5:10] + boxes[:, 1:2] - 1
        points = torch.stack([xs, ys], dim=2)
        boxes = bbreg(boxes, reg)
        if len(boxes):
            pick = batched_nms_numpy(boxes[:, :4], boxes[:, 4], owners, 0.7, "Min")
            boxes, owners, points = boxes[pick], owners[pick], points[pick]

    boxes_np = boxes.float().cpu().numpy()
    points_np = points.float().cpu().numpy()
    owners_np = owners.cpu().numpy()
    out: list[Detections] = []
    for i in range(n):
        mine = owners_np == i
        out.append((boxes_np[mine, :4], boxes_np[mine, 4], points_np[mine]))
    return out
