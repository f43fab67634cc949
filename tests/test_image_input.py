"""The one door for images: every refusal has its stable code, every odd-but-valid image
comes out upright RGB, and nothing raises anything but ImageInputError."""

from __future__ import annotations

import base64
import io
import random
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from vision.errors import ErrorCode, ImageInputError
from vision.image_input import DecodedImage, decode_image
from vision.settings import Settings


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but carries no pixel data (a decompression-bomb probe)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _code(source, **kwargs) -> str:
    with pytest.raises(ImageInputError) as info:
        decode_image(source, **kwargs)
    return info.value.code.value


@pytest.fixture(scope="module")
def bus(photo_bytes) -> bytes:
    return photo_bytes["bus.jpg"]


# --- refusals -------------------------------------------------------------------------------


def test_empty_bytes():
    assert _code(b"") == ErrorCode.EMPTY_INPUT


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert _code(empty, allow_path=True) == ErrorCode.EMPTY_INPUT


def test_none_is_empty():
    assert _code(None) == ErrorCode.EMPTY_INPUT


def test_invalid_base64():
    assert _code("this is not base64 at all!!") == ErrorCode.INVALID_BASE64


def test_data_uri_without_base64_flag():
    assert _code("data:image/png,rawbytes") == ErrorCode.INVALID_BASE64


def test_html_page_is_not_an_image():
    assert _code(b"<!DOCTYPE html><html><body>hello</body></html>") == ErrorCode.NOT_AN_IMAGE


def test_random_bytes_are_not_an_image():
    assert _code(bytes(random.Random(0).getrandbits(8) for _ in range(4096))) == ErrorCode.NOT_AN_IMAGE


def test_pdf_is_unsupported():
    code = _code(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF")
    assert code == ErrorCode.UNSUPPORTED_FORMAT


def test_svg_is_unsupported():
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    assert _code(svg) == ErrorCode.UNSUPPORTED_FORMAT


def test_ico_is_unsupported():
    ico = _encode(Image.new("RGB", (32, 32), "red"), "ICO")
    assert _code(ico) == ErrorCode.UNSUPPORTED_FORMAT


def test_truncated_jpeg(bus):
    assert _code(bus[: len(bus) // 2]) == ErrorCode.TRUNCATED_IMAGE


def test_truncated_png(photo_bytes):
    png = photo_bytes["coffee.png"]
    assert _code(png[: len(png) // 3]) == ErrorCode.TRUNCATED_IMAGE


def test_over_the_byte_limit(bus):
    small = Settings(max_image_bytes=10_000)
    assert _code(bus, settings=small) == ErrorCode.IMAGE_TOO_LARGE
    # base64 text is measured before it is decoded
    assert _code(base64.b64encode(bus).decode(), settings=small) == ErrorCode.IMAGE_TOO_LARGE


def test_decompression_bomb_is_refused_before_pixels_are_allocated():
    bomb = _png_header_only(20000, 20000)
    tracemalloc.start()
    try:
        assert _code(bomb) == ErrorCode.TOO_MANY_PIXELS
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"{peak} bytes allocated for a header-only bomb"


def test_pixel_limit_is_a_setting(bus):
    assert _code(bus, settings=Settings(max_image_pixels=500_000)) == ErrorCode.TOO_MANY_PIXELS


def test_one_pixel_image_is_too_small():
    assert _code(_encode(Image.new("RGB", (1, 1)), "PNG")) == ErrorCode.IMAGE_TOO_SMALL


def test_paths_only_in_batch_mode(tmp_path, bus):
    photo = tmp_path / "bus.jpg"
    photo.write_bytes(bus)
    assert _code(photo) == ErrorCode.PATH_NOT_ALLOWED
    assert decode_image(photo, allow_path=True).width == 810
    assert decode_image(str(photo), allow_path=True).height == 1080


def test_missing_file():
    assert _code("/no/such/photo.jpg", allow_path=True) == ErrorCode.FILE_NOT_FOUND


def test_mutated_jpegs_never_escape_as_other_exceptions(bus):
    rng = random.Random(7)
    for _ in range(40):
        data = bytearray(bus)
        for _ in range(rng.randint(1, 30)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
        cut = rng.choice([len(data), rng.randrange(100, len(data))])
        try:
            result = decode_image(bytes(data[:cut]))
        except ImageInputError:
            continue
        assert isinstance(result, DecodedImage) and result.image.mode == "RGB"


# --- accepted, normalised -------------------------------------------------------------------


def test_base64_forms_all_decode(bus):
    text = base64.b64encode(bus).decode()
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    urlsafe = base64.urlsafe_b64encode(bus).decode().rstrip("=")
    for source in (text, "data:image/jpeg;base64," + text, wrapped, urlsafe):
        decoded = decode_image(source)
        assert (decoded.width, decoded.height) == (810, 1080)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode_image(_encode(cmyk, "JPEG"))
    assert decoded.image.mode == "RGB"
    r, g, b = np.asarray(decoded.image).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_keeps_its_tones():
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (32, 1))
    decoded = decode_image(_encode(Image.fromarray(ramp), "PNG"))
    arr = np.asarray(decoded.image)
    assert decoded.image.mode == "RGB"
    assert arr[:, 0].max() < 10 and arr[:, -1].min() > 245 and 100 < arr[:, 32].mean() < 160


def test_exif_rotated_jpeg_comes_out_upright():
    img = Image.new("RGB", (80, 40), "white")
    img.paste((255, 0, 0), (0, 0, 20, 40))  # red strip on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(_encode(img, "JPEG", exif=exif.tobytes()))
    assert (decoded.width, decoded.height) == (40, 80)
    arr = np.asarray(decoded.image)
    assert arr[:20, :, 0].mean() > 200 and arr[:20, :, 1].mean() < 80  # the red strip is now on top


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    arr = np.asarray(decode_image(buf.getvalue()).image)
    assert arr[..., 0].mean() > 200 and arr[..., 1].mean() < 50


def test_transparent_palette_png_becomes_white_background():
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 16, 32))
    decoded = decode_image(_encode(rgba.convert("P"), "PNG", transparency=0))
    arr = np.asarray(decode_image(_encode(rgba, "PNG")).image)
    assert decoded.image.mode == "RGB"
    assert arr[:, 20:].min() == 255 and arr[:, :16, 2].min() > 200


def test_grayscale_and_webp(photo_bytes):
    camera = decode_image(photo_bytes["camera.png"])
    assert camera.image.mode == "RGB"
    webp = _encode(Image.open(io.BytesIO(photo_bytes["chelsea.png"])), "WEBP")
    assert decode_image(webp).width == 451


def test_heic_phone_photo(photo_bytes):
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this pillow-heif build has no HEVC encoder to make a test file")
    img = Image.open(io.BytesIO(photo_bytes["chelsea.png"])).convert("RGB")
    decoded = decode_image(_encode(img, "HEIF", quality=90))
    assert decoded.format == "HEIF" and (decoded.width, decoded.height) == (451, 300)


def test_draft_mode_decodes_small_but_reports_original_size():
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8))
    data = _encode(big, "JPEG", quality=85)
    full = decode_image(data)
    small = decode_image(data, min_side=256)
    assert (full.width, full.height) == (small.width, small.height) == (4000, 3000)
    assert full.image.size == (4000, 3000)
    assert min(small.image.size) >= 256 and small.image.width <= 1000  # a 1/4 or 1/8 DCT reduction
    assert (
        small.to_original([10, 10, 20, 20]) == [10 * 4000 / small.image.width] * 2 + [20 * 4000 / small.image.width] * 2
    )


def test_refusals_hold_after_ultralytics_patches_image_open():
    # Ultralytics wraps PIL.Image.open on import; a router with a YOLO model has it loaded.
    import ultralytics.utils.patches  # noqa: F401

    assert _code(b"<!DOCTYPE html><html><body>hello</body></html>") == ErrorCode.NOT_AN_IMAGE
    assert _code(b"%PDF-1.7\n%%EOF") == ErrorCode.UNSUPPORTED_FORMAT
