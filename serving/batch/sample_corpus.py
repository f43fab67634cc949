"""A folder of real photos to try batch scoring on: the bundled sample photos
(vision.samples) plus augmented copies of each (flips, crops, rotations, re-encodings,
EXIF-rotated JPEGs ...), and optionally a few broken files, each broken its own way.

Used by the tests, the benchmark and the notebooks; everything is deterministic, so the
same call makes byte-identical files on every machine with the same Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from vision.samples import sample_photos

Save = tuple[str, dict]  # (extension, Pillow save options)


def _crop(left: float, top: float, right: float, bottom: float) -> Callable[[Image.Image], Image.Image]:
    def crop(img: Image.Image) -> Image.Image:
        w, h = img.size
        return img.crop((round(w * left), round(h * top), round(w * right), round(h * bottom)))

    return crop


# name -> (transform, how to save it)
VARIANTS: dict[str, tuple[Callable[[Image.Image], Image.Image], Save]] = {
    "orig": (lambda im: im, ("png", {"compress_level": 1})),
    "hflip": (ImageOps.mirror, ("jpg", {"quality": 92})),
    "vflip": (ImageOps.flip, ("jpg", {"quality": 92})),
    "crop-centre": (_crop(0.1, 0.1, 0.9, 0.9), ("jpg", {"quality": 90})),
    "crop-top-left": (_crop(0.0, 0.0, 0.7, 0.7), ("png", {"compress_level": 1})),
    "crop-bottom-right": (_crop(0.3, 0.3, 1.0, 1.0), ("webp", {"quality": 85})),
    "rot90": (lambda im: im.transpose(Image.Transpose.ROTATE_90), ("jpg", {"quality": 90})),
    "jpeg-q40": (lambda im: im, ("jpg", {"quality": 40})),
    "jpeg-q95": (lambda im: im, ("jpg", {"quality": 95})),
    "webp": (lambda im: im, ("webp", {"quality": 80})),
    "gray": (lambda im: ImageOps.grayscale(im).convert("RGB"), ("jpg", {"quality": 90})),
    "half": (
        lambda im: im.resize((max(16, im.width // 2), max(16, im.height // 2)), Image.Resampling.LANCZOS),
        ("jpg", {"quality": 90}),
    ),
    "darker": (lambda im: ImageEnhance.Brightness(im).enhance(0.6), ("jpg", {"quality": 90})),
    "blur": (lambda im: im.filter(ImageFilter.GaussianBlur(2)), ("png", {"compress_level": 1})),
    "bmp": (lambda im: im, ("bmp", {})),
    # stored sideways with an EXIF orientation tag, as phones do: the door must turn it upright
    "exif-rot": (lambda im: im.transpose(Image.Transpose.ROTATE_270), ("jpg", {"quality": 90, "exif_orientation": 6})),
}

# file name -> the error code vision.image_input gives it
BROKEN: dict[str, str] = {
    "broken/truncated.jpg": "truncated_image",
    "broken/not-an-image.jpg": "not_an_image",
    "broken/empty.png": "empty_input",
    "broken/tiny.png": "image_too_small",
    "broken/document.jpg": "unsupported_format",
}


def _save(img: Image.Image, path: Path, save: Save) -> None:
    ext, options = save
    options = dict(options)
    orientation = options.pop("exif_orientation", None)
    fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}[ext]
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    img.save(path, format=fmt, **options)


def _broken(dest: Path, photo: Path) -> list[Path]:
    out = []
    good = io.BytesIO()
    with Image.open(photo) as img:
        img.convert("RGB").save(good, format="JPEG", quality=90)
    contents = {
        "broken/truncated.jpg": good.getvalue()[: len(good.getvalue()) // 2],
        "broken/not-an-image.jpg": b"name,likes\nalice,3\n" * 20,
        "broken/empty.png": b"",
        "broken/document.jpg": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 4,
    }
    tiny = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tiny, format="PNG")
    contents["broken/tiny.png"] = tiny.getvalue()
    for name, data in contents.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append(path)
    return out


def make_corpus(
    dest: Path,
    *,
    variants: int | Sequence[str] | None = None,
    broken: bool = False,
    photos: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``<photo>/<variant>.<ext>`` for every sample photo (or the named ``photos``) plus,
    with ``broken``, the files of BROKEN. ``variants``: the first N of VARIANTS, or their names;
    default all 16 (13 photos -> 208 images)."""
    dest = Path(dest)
    if isinstance(variants, int):
        chosen = list(VARIANTS.items())[:variants]
    elif variants:
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
        chosen = [(v, VARIANTS[v]) for v in variants]
    else:
        chosen = list(VARIANTS.items())
    samples = sample_photos()
    names = photos or sorted(samples)
    written = []
    for name in names:
        with Image.open(samples[name]) as original:
            img = ImageOps.exif_transpose(original).convert("RGB")
        folder = dest / Path(name).stem
        folder.mkdir(parents=True, exist_ok=True)
        for variant, (transform, save) in chosen:
            path = folder / f"{variant}.{save[0]}"
            if not path.exists():
                _save(transform(img), path, save)
            written.append(path)
    if broken:
        written += _broken(dest, samples[names[0]])
    return written
