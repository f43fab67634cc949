"""Render an ImageAnswer onto its picture: boxes, labels, face markers, OCR lines, a caption bar."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vision.results import DescribeResult, ImageAnswer

_COLORS = {"detect": (255, 140, 0), "faces": (0, 200, 255), "ocr": (255, 0, 200)}
_DEFAULT_COLOR = (0, 255, 0)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), size)
    except (ImportError, OSError):
        return ImageFont.load_default()


class _Painter:
    """vision.results.Painter on a PIL canvas: boxes with a label, landmark dots, polygons."""

    def __init__(self, pen: ImageDraw.ImageDraw, line: int, font):
        self.pen, self.line, self.font = pen, line, font

    def box(self, task: str, box, text: str) -> None:
        color = _COLORS.get(task, _DEFAULT_COLOR)
        x1, y1, x2, y2 = box
        self.pen.rectangle((x1, y1, x2, y2), outline=color, width=self.line)
        if text:
            tx1, ty1, tx2, ty2 = self.pen.textbbox((x1, y1), text, font=self.font)
            top = max(0, y1 - (ty2 - ty1) - 2)
            self.pen.rectangle((x1, top, x1 + (tx2 - tx1) + 4, top + (ty2 - ty1) + 2), fill=color)
            self.pen.text((x1 + 2, top), text, fill=(0, 0, 0), font=self.font)

    def dots(self, task: str, points) -> None:
        r = self.line + 1
        for x, y in points:
            self.pen.ellipse((x - r, y - r, x + r, y + r), fill=_COLORS.get(task, _DEFAULT_COLOR))

    def polygon(self, task: str, points) -> None:
        self.pen.polygon([tuple(p) for p in points], outline=_COLORS.get(task, _DEFAULT_COLOR), width=self.line)


def draw(image: Image.Image, answer: ImageAnswer) -> Image.Image:
    """A copy of ``image`` (the original, upright picture) with the answer drawn on it."""
    canvas = image.convert("RGB").copy()
    if answer.width and answer.height and (canvas.width, canvas.height) != (answer.width, answer.height):
        canvas = canvas.resize((answer.width, answer.height))
    pen = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 400))
    font = _font(max(12, round(max(canvas.size) / 60)))

    painter = _Painter(pen, line, font)
    for result in answer.results.values():  # each answer draws itself (vision/results.py)
        result.draw(painter)
    describe = answer.results.get("describe")
    if isinstance(describe, DescribeResult):
        text = describe.text
        bar = int(getattr(font, "size", 12)) + 8
        framed = Image.new("RGB", (canvas.width, canvas.height + bar), (255, 255, 255))
        framed.paste(canvas, (0, 0))
        ImageDraw.Draw(framed).text((4, canvas.height + 3), text, fill=(0, 0, 0), font=font)
        canvas = framed
    return canvas


def save_drawing(image: Image.Image, answer: ImageAnswer, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    draw(image, answer).save(tmp, format="PNG")
    tmp.replace(path)
    return path
