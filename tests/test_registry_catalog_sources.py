"""A catalog entry can point at a registered version (models:/NAME@ALIAS)."""

from __future__ import annotations

import pytest

from registry.bootstrap import bootstrap
from registry.catalog import CatalogEntry, resolve_entry
from vision.adapters import build_adapter
from vision.errors import ModelSpecError
from vision.image_input import decode_image


def test_entry_naming_a_registered_candidate_loads_its_weights_and_spec(photo_bytes):
    bootstrap(names=["classify-mobilenet-v2"])
    entry = CatalogEntry(
        name="classify-copy", task="classify", family="torchvision", weights="models:/classify-mobilenet-v2@candidate"
    )
    spec, weights = resolve_entry(entry)
    assert weights is not None and weights.exists() and weights.suffix == ".pth"
    assert spec.options["arch"] == "mobilenet_v2"  # from the registered version's spec
    adapter = build_adapter(spec, weights)
    (result,) = adapter.predict([decode_image(photo_bytes["coffee.png"])])
    assert result.labels[0].label == "espresso"


def test_malformed_registered_source_is_refused():
    entry = CatalogEntry(name="x", task="classify", family="torchvision", weights="models:/only-a-name")
    with pytest.raises(ModelSpecError, match="models:/NAME@ALIAS"):
        resolve_entry(entry)
