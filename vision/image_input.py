"""The one door for images: raw bytes, base64 text or (batch mode only) a local path in,
an upright RGB picture plus its original size out, or an ImageInputError with a stable code.

Every check that can be made from the header is made before pixels are allocated, so a
decompression bomb or an oversized upload costs a few hundred bytes of reading.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vision.errors import ErrorCode, ImageInputError
from vision.settings import Settings, get_settings

try:  # phone photos; the wheel bundles libheif
    import pillow_heif

    pillow_heif.register_heif_opener()
    _HEIF = True
except ImportError:  # pragma: no cover - pillow-heif is a pinned dependency
    _HEIF = False

# Pillow's process-wide switches (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) are
# left as the caller's process has them: a notebook importing idaas keeps its own bomb guard.
# Our pixel limit (a setting) is checked from the header right after opening; Pillow's own
# guard (a warning past 89 MP, an error past 179 MP by default) can only refuse earlier.

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF") + (("HEIF", "AVIF") if _HEIF else ())

# Formats we recognise by their first bytes but do not decode: a caller gets told what they sent.
_KNOWN_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"%PDF", 0, "PDF document"),
    (b"%!PS", 0, "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", 0, "EPS"),
    (b"8BPS", 0, "Photoshop PSD"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"\xff\x0a", 0, "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
    (b"ftypmp4", 4, "MP4 video"),
    (b"ftypisom", 4, "MP4 video"),
    (b"ftypqt", 4, "QuickTime video"),
    (b"\x1aE\xdf\xa3", 0, "WebM/Matroska video"),
]


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB picture and the size of the original upright image.

    ``image`` may be smaller than the original when draft decoding was asked for;
    ``scale`` (decoded width / original width) maps coordinates back to the original.
    """

    image: Image.Image
    width: int
    height: int
    format: str

    @property
    def scale(self) -> float:
        return self.image.width / self.width

    def to_original(self, box: list[float] | tuple[float, ...]) -> list[float]:
        """Map an [x1, y1, x2, y2] box (or any flat list of x, y pairs) to original pixels."""
        inv_x = self.width / self.image.width
        inv_y = self.height / self.image.height
        return [round(float(v) * (inv_x if i % 2 == 0 else inv_y), 1) for i, v in enumerate(box)]


def _fail(code: ErrorCode, message: str) -> ImageInputError:
    return ImageInputError(message, code)


def _b64decode(text: str, max_bytes: int) -> bytes:
    text = text.strip()
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or ";base64" not in header:
            raise _fail(ErrorCode.INVALID_BASE64, "a data: URI must be base64-encoded ('data:image/jpeg;base64,...')")
    text = "".join(text.split())  # line-wrapped base64 (MIME, `base64` CLI) is common
    if not text:
        raise _fail(ErrorCode.EMPTY_INPUT, "the image is empty")
    if len(text) * 3 // 4 > max_bytes:
        raise _fail(ErrorCode.IMAGE_TOO_LARGE, f"the image is larger than the limit of {max_bytes} bytes")
    text += "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(
            ErrorCode.INVALID_BASE64,
            "the image text is not valid base64; send the file's bytes base64-encoded (optionally as a data: URI)",
        ) from None


def _read_path(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _fail(ErrorCode.FILE_NOT_FOUND, f"no such file: {path}") from None
    except OSError as exc:
        raise _fail(ErrorCode.UNREADABLE_FILE, f"cannot read {path}: {exc.strerror}") from None
    if not path.is_file():
        raise _fail(ErrorCode.UNREADABLE_FILE, f"not a file: {path}")
    if size > max_bytes:
        raise _fail(ErrorCode.IMAGE_TOO_LARGE, f"{path} is {size} bytes, over the limit of {max_bytes}")
    try:
        return path.read_bytes()
    except OSError as exc:  # there, but not readable (permissions, I/O error)
        raise _fail(ErrorCode.UNREADABLE_FILE, f"cannot read {path}: {exc.strerror}") from None


def load_bytes(
    source: bytes | bytearray | memoryview | str | os.PathLike,
    *,
    allow_path: bool = False,
    settings: Settings | None = None,
) -> bytes:
    """Turn any accepted source into the file's bytes, enforcing the byte limit."""
    s = settings or get_settings()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, os.PathLike) or (isinstance(source, str) and allow_path and _looks_like_path(source)):
        if not allow_path:
            raise _fail(ErrorCode.PATH_NOT_ALLOWED, "local paths are accepted in batch mode only; send the image bytes")
        data = _read_path(Path(source), s.max_image_bytes)
    elif isinstance(source, str):
        data = _b64decode(source, s.max_image_bytes)
    elif source is None or (isinstance(source, float) and math.isnan(source)):
        raise _fail(ErrorCode.EMPTY_INPUT, "no image was given")
    else:
        raise _fail(ErrorCode.NOT_AN_IMAGE, f"cannot read an image from a {type(source).__name__}")
    if not data:
        raise _fail(ErrorCode.EMPTY_INPUT, "the image is empty (0 bytes)")
    if len(data) > s.max_image_bytes:
        raise _fail(ErrorCode.IMAGE_TOO_LARGE, f"the image is {len(data)} bytes, over the limit of {s.max_image_bytes}")
    return data


def _looks_like_path(text: str) -> bool:
    if text.startswith("data:") or len(text) > 4096:
        return False
    return os.sep in text or "." in text[-6:] or Path(text).exists()


def _sniff(data: bytes) -> str | None:
    for magic, offset, name in _KNOWN_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower():
        return "SVG"
    return None


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (UnidentifiedImageError, ImportError):
        # ImportError: once ultralytics is imported it wraps Image.open and, after Pillow has
        # failed to identify the data, tries to import an optional HEIF plugin (pi_heif) and
        # lets that ImportError escape. Either way the data was not recognised.
        known = _sniff(data)
        if known:
            raise _fail(
                ErrorCode.UNSUPPORTED_FORMAT,
                f"{known} is not a supported image format; send {', '.join(ACCEPTED_FORMATS)}",
            ) from None
        raise _fail(ErrorCode.NOT_AN_IMAGE, "the data is not an image (no known image format was recognised)") from None
    except Image.DecompressionBombError:
        raise _fail(ErrorCode.TOO_MANY_PIXELS, "the image has too many pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow raises these on broken headers of a recognised format.
        raise _fail(ErrorCode.TRUNCATED_IMAGE, f"the image header is damaged: {exc}") from None


def _upright_size(img: Image.Image) -> tuple[int, int]:
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not reject an otherwise good photo
        orientation = 1
    w, h = img.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Pillow's convert clips 16-bit values to 255 (a white picture); rescale instead.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray((arr / top * 255.0).clip(0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels become white, as a browser shows them on a white page.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def decode_image(
    source, *, min_side: int | None = None, allow_path: bool = False, settings: Settings | None = None
) -> DecodedImage:
    """Decode one image through every check of the door.

    ``min_side``: the shorter side the models need. JPEGs are then decoded with the
    decoder's draft mode straight to the smallest power-of-two reduction that still keeps
    at least that many pixels on the shorter side; ``None`` keeps full resolution.
    """
    s = settings or get_settings()
    data = load_bytes(source, allow_path=allow_path, settings=s)
    img = _open(data)
    fmt = img.format or "unknown"
    raw_w, raw_h = img.size
    if raw_w * raw_h > s.max_image_pixels:
        raise _fail(
            ErrorCode.TOO_MANY_PIXELS,
            f"the image is {raw_w}x{raw_h} = {raw_w * raw_h} pixels, over the limit of {s.max_image_pixels}",
        )
    width, height = _upright_size(img)
    if min(width, height) < s.min_image_side:
        raise _fail(
            ErrorCode.IMAGE_TOO_SMALL,
            f"the image is {width}x{height}; both sides must be at least {s.min_image_side} px",
        )
    if getattr(img, "is_animated", False):
        img.seek(0)  # the first frame stands for an animation
    if min_side and fmt in ("JPEG", "MPO") and min(raw_w, raw_h) > 2 * min_side:
        factor = min_side / min(raw_w, raw_h)
        # draft() picks the largest DCT reduction (1/2, 1/4, 1/8) whose result is still at
        # least the requested size, so no model gets fewer pixels than it asked for.
        img.draft("RGB", (math.ceil(raw_w * factor), math.ceil(raw_h * factor)))
    try:
        img.load()
        upright = ImageOps.exif_transpose(img) or img
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        message = str(exc)
        if "truncated" in message or "broken data stream" in message or isinstance(exc, EOFError):
            raise _fail(ErrorCode.TRUNCATED_IMAGE, "the image file is truncated or damaged") from None
        raise _fail(ErrorCode.TRUNCATED_IMAGE, f"the image could not be decoded: {message}") from None
    except Image.DecompressionBombError:
        raise _fail(ErrorCode.TOO_MANY_PIXELS, "the image has too many pixels") from None
    return DecodedImage(image=_to_rgb(upright), width=width, height=height, format=fmt)
