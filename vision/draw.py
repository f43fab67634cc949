"""Render an ImageAnswer onto its picture: boxes, labels, face markers, OCR lines, a caption bar."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vision.results import DetectResult, FacesResult, ImageAnswer, OcrResult

_COLORS = {"detect": (255, 140, 0), "faces": (0, 200, 255), "ocr": (255, 0, 200)}


def _font(size: int) -> ImageFont.ImageFont:
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), size)
    except (ImportError, OSError):
        return ImageFont.load_default()


def draw(image: Image.Image, answer: ImageAnswer) -> Image.Image:
    """A copy of ``image`` (the original, upright picture) with the answer drawn on it."""
    canvas = image.convert("RGB").copy()
    if answer.width and (canvas.width, canvas.height) != (answer.width, answer.height):
        canvas = canvas.resize((answer.width, answer.height))
    pen = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 400))
    font = _font(max(12, round(max(canvas.size) / 60)))

    def labelled_box(box, text, color):
        x1, y1, x2, y2 = box
        pen.rectangle((x1, y1, x2, y2), outline=color, width=line)
        if text:
            tx1, ty1, tx2, ty2 = pen.textbbox((x1, y1), text, font=font)
            top = max(0, y1 - (ty2 - ty1) - 2)
            pen.rectangle((x1, top, x1 + (tx2 - tx1) + 4, top + (ty2 - ty1) + 2), fill=color)
            pen.text((x1 + 2, top), text, fill=(0, 0, 0), font=font)

    detect = answer.results.get("detect")
    if isinstance(detect, DetectResult):
        for obj in detect.objects:
            labelled_box(obj.box, f"{obj.label} {obj.score:.2f}", _COLORS["detect"])
    faces = answer.results.get("faces")
    if isinstance(faces, FacesResult):
        for face in faces.faces:
            # Abstentions are drawn as such ("sunglasses ?"), never left to look like a "no".
            attrs = " ".join(f"{k} ?" if v is None else f"{k} {v:.2f}" for k, v in face.attributes.items()
                             if v is None or v >= 0.5)
            labelled_box(face.box, f"face {face.score:.2f} {attrs}".strip(), _COLORS["faces"])
            r = line + 1
            for x, y in face.landmarks.values():
                pen.ellipse((x - r, y - r, x + r, y + r), fill=_COLORS["faces"])
    ocr = answer.results.get("ocr")
    if isinstance(ocr, OcrResult):
        for text_line in ocr.lines:
            if text_line.polygon:
                pen.polygon([tuple(p) for p in text_line.polygon], outline=_COLORS["ocr"], width=line)
            else:
                pen.rectangle(text_line.box, outline=_COLORS["ocr"], width=line)
    describe = answer.results.get("describe")
    if describe is not None:
        text = describe.text
        bar = font.size + 8 if hasattr(font, "size") else 20
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
