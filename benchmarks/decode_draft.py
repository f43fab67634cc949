"""Benchmark: decoding a large JPEG to model size with draft mode vs full decode + resize.

    .venv/bin/python benchmarks/decode_draft.py [--repeats 15] [--min-side 256]

Both paths go through the same door (vision.image_input.decode_image); the baseline passes
min_side=None and resizes afterwards, as a decoder without draft mode would have to.
Prints the medians and their ratio. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import io
import statistics
import time

import typer
from PIL import Image

from vision.image_input import decode_image
from vision.samples import sample_photo
from vision.settings import apply_offline_env


def make_large_jpeg(megapixels_side=(4032, 3024)) -> bytes:
    # A real photo (bus.jpg) upscaled to a phone camera's 12.2 MP; JPEG quality as phones save.
    photo = (
        Image.open(sample_photo("bus.jpg"))
        .convert("RGB")
        .resize((megapixels_side[1], megapixels_side[0]), Image.Resampling.LANCZOS)
    )
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


app = typer.Typer(add_completion=False)


@app.command()
def main(
    repeats: int = typer.Option(15, help="interleaved runs of each path"),
    min_side: int = typer.Option(256, help="the shorter side the models need"),
) -> None:
    apply_offline_env()
    data = make_large_jpeg()

    def draft():
        return decode_image(data, min_side=min_side).image

    def full():
        img = decode_image(data).image
        scale = min_side / min(img.size)
        return img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BILINEAR)

    timings = {"draft": [], "full": []}
    draft(), full()  # warm-up
    for _ in range(repeats):  # interleaved, so machine noise hits both alike
        for name, fn in (("draft", draft), ("full", full)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in timings.items()}
    w, h = Image.open(io.BytesIO(data)).size
    print(
        f"input: {w}x{h} JPEG ({w * h / 1e6:.1f} MP, {len(data) / 1e6:.1f} MB), "
        f"target shorter side {min_side}px, {repeats} runs each"
    )
    print(f"draft decode        median {med['draft'] * 1000:8.1f} ms  (decoded to {draft().size})")
    print(f"full decode+resize  median {med['full'] * 1000:8.1f} ms")
    print(f"speed-up (full / draft medians): {med['full'] / med['draft']:.1f}x")


if __name__ == "__main__":
    app()
