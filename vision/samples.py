"""Real photos that ship inside installed packages (see docs/offline.md): the demo's and
the tests' inputs, found without any network access."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"package {name!r} is not installed; run `make setup`")
    return Path(spec.origin).parent


def sample_photos() -> dict[str, Path]:
    """name -> path of every bundled sample photo that is present."""
    ultralytics = _package_dir("ultralytics") / "assets"
    skimage = _package_dir("skimage") / "data"
    mpl = _package_dir("matplotlib") / "mpl-data" / "sample_data"
    sklearn = _package_dir("sklearn") / "datasets" / "images"
    candidates = {
        "bus.jpg": ultralytics / "bus.jpg",
        "zidane.jpg": ultralytics / "zidane.jpg",
        "grace_hopper.jpg": mpl / "grace_hopper.jpg",
        "astronaut.png": skimage / "astronaut.png",
        "camera.png": skimage / "camera.png",
        "chelsea.png": skimage / "chelsea.png",
        "coffee.png": skimage / "coffee.png",
        "rocket.jpg": skimage / "rocket.jpg",
        "page.png": skimage / "page.png",
        "text.png": skimage / "text.png",
        "motorcycle_left.png": skimage / "motorcycle_left.png",
        "china.jpg": sklearn / "china.jpg",
        "flower.jpg": sklearn / "flower.jpg",
    }
    return {name: path for name, path in candidates.items() if path.exists()}


def sample_photo(name: str) -> Path:
    photos = sample_photos()
    if name not in photos:
        raise FileNotFoundError(f"sample photo {name!r} is not installed; known: {', '.join(photos)}")
    return photos[name]
