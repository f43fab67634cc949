"""Every family whose weights come from a hub (Hugging Face, Ultralytics) plus the embedders.

No hub checkpoint can be downloaded here, so each test builds a tiny randomly initialised
model from its config, saves it in the real format (``save_pretrained`` folders with their
processor and tokenizer, an Ultralytics ``.pt``), loads it through ``build_adapter`` exactly
as a real checkpoint is loaded, and runs it on real photos. Random weights say nothing about
accuracy, so these tests check the contract: types, shapes, boxes inside the picture, scores
that are probabilities, unit-length embeddings, typed errors. The torchvision embedder runs
the real MobileNetV2 weights and is checked for meaning too.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps

from vision.adapters import build_adapter
from vision.errors import BadRequestError, ModelSpecError, WeightsUnavailableError
from vision.image_input import DecodedImage, decode_image
from vision.results import CaptionResult, ClassifyResult, DetectResult, EmbedResult, ZeroShotResult
from vision.spec import ModelSpec
from vision.weights import resolve_weights

CORPUS = [
    "a bus parked on the side of a city street",
    "two men standing in front of a blue bus",
    "a cat lying on a red blanket",
    "a cup of coffee on a saucer",
    "a woman in uniform smiling at the camera",
    "a man wearing sunglasses",
    "a rocket on the launch pad",
]
TINY_VIT = dict(
    image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
)
DETECT_LABELS = {0: "person", 1: "bus"}


# --- tiny models, saved in the real formats ---------------------------------------------------


@pytest.fixture(scope="session")
def hub_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hub-models")


@pytest.fixture(scope="session")
def vit_classifier(hub_dir) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    labels = {0: "cat", 1: "bus", 2: "coffee"}
    config = ViTConfig(**TINY_VIT, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    folder = hub_dir / "vit"
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def yolo_checkpoint(hub_dir) -> Path:
    from vision.settings import quiet_ultralytics

    quiet_ultralytics()
    from ultralytics import YOLO

    torch.manual_seed(0)
    path = hub_dir / "yolo-tiny.pt"
    YOLO("yolov8n.yaml").save(path)  # Ultralytics' own checkpoint format, as its trainer writes it
    return path


@pytest.fixture(scope="session")
def detr_folder(hub_dir) -> Path:
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

    torch.manual_seed(0)
    backbone = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", out_features=["stage2"]
    )
    config = DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=backbone,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=10,
        id2label=DETECT_LABELS,
        label2id={v: k for k, v in DETECT_LABELS.items()},
    )
    folder = hub_dir / "detr"
    DetrForObjectDetection(config).save_pretrained(folder)
    DetrImageProcessor(size={"shortest_edge": 96, "longest_edge": 160}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def detr_timm_folders(hub_dir) -> tuple[Path, Path]:
    """The same DETR with a timm backbone twice: as transformers 5 saves it, and in the older
    layout that hub checkpoints such as facebook/detr-resnet-50 carry (backbone named by
    string, use_timm_backbone, backbone_kwargs)."""
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor

    torch.manual_seed(0)
    config = DetrConfig(
        backbone="test_resnet",
        use_pretrained_backbone=False,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=10,
        id2label=DETECT_LABELS,
        label2id={v: k for k, v in DETECT_LABELS.items()},
    )
    current, hub = hub_dir / "detr-timm", hub_dir / "detr-timm-hub-layout"
    DetrForObjectDetection(config).save_pretrained(current)
    DetrImageProcessor(size={"shortest_edge": 96, "longest_edge": 160}).save_pretrained(current)
    shutil.copytree(current, hub)
    raw = json.loads((hub / "config.json").read_text())
    raw.pop("backbone_config")
    raw.update(
        backbone="test_resnet",
        use_timm_backbone=True,
        use_pretrained_backbone=True,
        backbone_kwargs={"in_chans": 3, "out_indices": [1, 2, 3, 4]},
    )
    (hub / "config.json").write_text(json.dumps(raw))
    return current, hub


@pytest.fixture(scope="session")
def yolos_folder(hub_dir) -> Path:
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    torch.manual_seed(0)
    config = YolosConfig(
        **{**TINY_VIT, "image_size": [64, 64], "patch_size": 16},
        num_detection_tokens=10,
        id2label=DETECT_LABELS,
        label2id={v: k for k, v in DETECT_LABELS.items()},
    )
    folder = hub_dir / "yolos"
    YolosForObjectDetection(config).save_pretrained(folder)
    YolosImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def vit_gpt2_folder(hub_dir) -> Path:
    """A ViT encoder + GPT-2 decoder, as nlpconnect/vit-gpt2-image-captioning is laid out."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
    )

    torch.manual_seed(0)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    end = tokenizer.eos_token_id
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(**TINY_VIT),
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=end,
            eos_token_id=end,
        ),
    )
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = end
    model = VisionEncoderDecoderModel(config=config)
    # A random decoder may end at once; a real checkpoint's generation_config is honoured the same way.
    model.generation_config = GenerationConfig(
        decoder_start_token_id=end, eos_token_id=end, pad_token_id=end, min_new_tokens=3
    )
    folder = hub_dir / "vit-gpt2"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # The legacy feature-extractor config that checkpoint still carries (an int size, no processor type).
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "ViTFeatureExtractor",
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.5, 0.5, 0.5],
                "resample": 2,
                "size": 32,
            }
        )
    )
    return folder


@pytest.fixture(scope="session")
def blip_folder(hub_dir) -> Path:
    """BLIP with a WordPiece tokenizer trained here, as Salesforce/blip-image-captioning-* are laid out."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    torch.manual_seed(0)
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(
        CORPUS,
        trainers.WordPieceTrainer(
            vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
        ),
    )
    tokenizer = BertTokenizer(vocab=wordpiece.get_vocab(), bos_token="[DEC]")
    vocab = tokenizer.get_vocab()
    config = BlipConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=64,
            bos_token_id=vocab["[DEC]"],
            sep_token_id=vocab["[SEP]"],
            eos_token_id=vocab["[SEP]"],
            pad_token_id=vocab["[PAD]"],
        ),
        vision_config=dict(TINY_VIT),
        projection_dim=16,
    )
    folder = hub_dir / "blip"
    BlipForConditionalGeneration(config).save_pretrained(folder)
    BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def clip_folder(hub_dir) -> Path:
    """CLIP with its byte-level BPE tokenizer (the 512 byte symbols, no merges)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(0)
    symbols = sorted(ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        ),
        vision_config=dict(TINY_VIT),
        projection_dim=16,
    )
    folder = hub_dir / "clip"
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    ).save_pretrained(folder)
    return folder


# --- helpers ------------------------------------------------------------------------------------


def build(family: str, task: str, weights: Path, **spec) -> object:
    return build_adapter(ModelSpec(name=f"test-{family}", task=task, family=family, **spec), weights)


def decode_for(adapter, photo_bytes, *names: str) -> list[DecodedImage]:
    """Decode as the pipeline does: at the size the adapter asks for."""
    return [decode_image(photo_bytes[name], min_side=adapter.min_side) for name in names]


def ok(results: list) -> list:
    for result in results:
        assert not isinstance(result, Exception), result
    return results


def assert_boxes_inside(result: DetectResult, image: DecodedImage) -> None:
    for obj in result.objects:
        x1, y1, x2, y2 = obj.box
        assert 0 <= x1 <= x2 <= image.width + 0.5 and 0 <= y1 <= y2 <= image.height + 0.5, obj
        assert 0.0 <= obj.score <= 1.0


# --- classify -----------------------------------------------------------------------------------


def test_hf_classifier_ranks_its_labels(vit_classifier, photo_bytes):
    adapter = build("hf-classifier", "classify", vit_classifier)
    assert adapter.min_side == 32  # from the folder's preprocessor config
    images = decode_for(adapter, photo_bytes, "bus.jpg", "chelsea.png")
    results = ok(adapter.predict(images, {"top_k": 3}))
    assert len(results) == 2 and all(isinstance(r, ClassifyResult) for r in results)
    for result in results:
        assert {label.label for label in result.labels} == {"cat", "bus", "coffee"}
        scores = [label.score for label in result.labels]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-3)
    assert [len(r.labels) for r in ok(adapter.predict(images, {"top_k": 1}))] == [1, 1]
    assert all(r.labels == [] for r in ok(adapter.predict(images, {"min_score": 1.0})))


def test_hf_classifier_labels_must_match_the_head(vit_classifier):
    renamed = build("hf-classifier", "classify", vit_classifier, labels=["kitten", "coach", "espresso"])
    assert renamed.labels == ["kitten", "coach", "espresso"]
    with pytest.raises(ModelSpecError, match="3 outputs"):
        build("hf-classifier", "classify", vit_classifier, labels=["one", "two"])


# --- detect -------------------------------------------------------------------------------------


def test_yolo_boxes_in_original_pixels(yolo_checkpoint, photo_bytes):
    adapter = build("yolo", "detect", yolo_checkpoint, options={"imgsz": 160})
    assert adapter.min_side == 160
    images = decode_for(adapter, photo_bytes, "bus.jpg", "zidane.jpg")
    assert images[0].image.width < images[0].width  # draft-decoded smaller: boxes must be scaled back
    # A random network scores everything near 0, so ask for everything.
    results = ok(adapter.predict(images, {"min_score": 0.0, "max_detections": 7}))
    for result, image in zip(results, images):
        assert isinstance(result, DetectResult)
        assert 0 < len(result.objects) <= 7
        assert {o.label for o in result.objects} <= set(adapter.model.names.values())
        assert_boxes_inside(result, image)
    # Boxes reach past the decoded picture, into the original's pixels.
    assert max(o.box[2] for r in results for o in r.objects) > images[0].image.width
    assert ok(adapter.predict(images[:1], {"min_score": 0.99}))[0].objects == []


def test_yolo_never_logs_to_mlflow_on_its_own(yolo_checkpoint):
    build("yolo", "detect", yolo_checkpoint)
    from ultralytics import settings

    assert settings["mlflow"] is False
    # Persisted in the data directory's settings file, so every later process sees it too.
    saved = json.loads((Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics" / "settings.json").read_text())
    assert saved["mlflow"] is False


def test_yolo_refuses_a_file_that_is_no_checkpoint(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="broken.pt"):
        build("yolo", "detect", bad)


@pytest.mark.parametrize("folder", ["detr_folder", "yolos_folder"])
def test_hf_detector_boxes_in_original_pixels(folder, request, photo_bytes):
    adapter = build("hf-detector", "detect", request.getfixturevalue(folder))
    assert adapter.min_side in (96, 64)  # the processor's shortest_edge
    images = decode_for(adapter, photo_bytes, "bus.jpg", "zidane.jpg", "coffee.png")
    results = ok(adapter.predict(images, {"min_score": 0.0, "max_detections": 4}))
    for result, image in zip(results, images):
        assert isinstance(result, DetectResult)
        assert 0 < len(result.objects) <= 4
        assert {o.label for o in result.objects} <= set(DETECT_LABELS.values())
        scores = [o.score for o in result.objects]
        assert scores == sorted(scores, reverse=True)
        assert_boxes_inside(result, image)
    assert max(o.box[3] for o in results[0].objects) > images[0].image.height  # scaled back to 1080 px tall


def test_hf_detector_loads_the_hub_layout_of_a_timm_backbone_offline(detr_timm_folders, photo_bytes):
    current, hub = (build("hf-detector", "detect", folder) for folder in detr_timm_folders)
    assert type(hub.model.model.backbone.model).__module__.startswith("timm.")
    images = decode_for(hub, photo_bytes, "bus.jpg")
    from_hub = ok(hub.predict(images, {"min_score": 0.0}))[0]
    assert from_hub.objects and from_hub == ok(current.predict(images, {"min_score": 0.0}))[0]  # same weights


# --- caption ------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["vit_gpt2_folder", "blip_folder"])
def test_captioner_writes_text(folder, request, photo_bytes):
    adapter = build("hf-captioner", "caption", request.getfixturevalue(folder))
    assert adapter.min_side == 32
    images = decode_for(adapter, photo_bytes, "bus.jpg", "grace_hopper.jpg")
    results = ok(adapter.predict(images, {"max_new_tokens": 5}))
    for result in results:
        assert isinstance(result, CaptionResult)
        assert isinstance(result.caption, str) and result.caption.strip()
    with torch.inference_mode():  # max_new_tokens reaches generate
        generated = adapter.forward(adapter.preprocess(images, {}), {"max_new_tokens": 4})
    assert generated.shape[0] == 2 and generated.shape[1] <= 1 + 4


def test_captioner_refuses_other_model_types(vit_classifier):
    with pytest.raises(ModelSpecError, match="'vit'"):
        build("hf-captioner", "caption", vit_classifier)


# --- zeroshot -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def zeroshot(clip_folder):
    return build("clip", "zeroshot", clip_folder)


def test_zeroshot_scores_are_a_distribution_over_the_labels(zeroshot, photo_bytes):
    images = decode_for(zeroshot, photo_bytes, "bus.jpg", "chelsea.png")
    assert zeroshot.min_side == 32
    # '|' separates labels that contain commas.
    results = ok(zeroshot.predict(images, {"labels": "a bus|a cat, sleeping|a cup of coffee"}))
    for result in results:
        assert isinstance(result, ZeroShotResult)
        assert {label.label for label in result.labels} == {"a bus", "a cat, sleeping", "a cup of coffee"}
        scores = [label.score for label in result.labels]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-3)
    top1 = ok(zeroshot.predict(images, {"labels": ["a bus", "a cat", "a cup of coffee"], "top_k": 1}))
    assert [len(r.labels) for r in top1] == [1, 1]
    plain = ok(zeroshot.predict(images, {"labels": " a bus , a cat,,a cup of coffee "}))
    assert {label.label for label in plain[0].labels} == {"a bus", "a cat", "a cup of coffee"}


@pytest.mark.parametrize("labels", ["", " , ,", " | |", None, []])
def test_zeroshot_without_labels_is_a_bad_request(zeroshot, photo_bytes, labels):
    images = decode_for(zeroshot, photo_bytes, "bus.jpg")
    with pytest.raises(BadRequestError, match="zeroshot needs labels"):
        zeroshot.predict(images, {"labels": labels})


def test_zeroshot_request_is_refused_before_any_image_is_decoded(zeroshot):
    from vision.pipeline import Loaded, Pipeline

    pipeline = Pipeline({"zeroshot": Loaded(zeroshot, "zeroshot-tiny/1")})
    with pytest.raises(BadRequestError, match="zeroshot needs labels"):
        pipeline.annotate([b"not even an image"], params={"top_k": 2})
    with pytest.raises(BadRequestError, match="top_k"):
        pipeline.annotate([b"not even an image"], params={"labels": "a,b", "top_k": 0})


def test_zeroshot_default_labels_and_prompt_option(clip_folder, photo_bytes):
    adapter = build(
        "clip", "zeroshot", clip_folder, labels=["sunglasses", "no sunglasses"], options={"prompt": "a face with {}"}
    )
    result = ok(adapter.predict(decode_for(adapter, photo_bytes, "grace_hopper.jpg")))[0]
    assert {label.label for label in result.labels} == {"sunglasses", "no sunglasses"}
    with pytest.raises(ModelSpecError, match="prompt"):
        build("clip", "zeroshot", clip_folder, options={"prompt": "a photo"})


def test_zeroshot_is_thread_safe_with_cached_label_sets(zeroshot, photo_bytes):
    images = decode_for(zeroshot, photo_bytes, "bus.jpg", "zidane.jpg")
    label_sets = [f"a bus,a tie,thing {i}" for i in range(6)]
    answers: dict[int, list] = {}

    def ask(i: int) -> None:
        answers[i] = zeroshot.predict(images, {"labels": label_sets[i % len(label_sets)], "top_k": 3})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, results in answers.items():
        expected = {"a bus", "a tie", f"thing {i % len(label_sets)}"}
        assert all({label.label for label in r.labels} == expected for r in ok(results))
    # The same label set asked twice gets the same answer, the second time from the text cache.
    assert answers[0][0] == answers[6][0]
    assert tuple(["a bus", "a tie", "thing 0"]) in zeroshot._text_cache


# --- embed --------------------------------------------------------------------------------------


def test_clip_embedder_unit_vectors(clip_folder, photo_bytes):
    adapter = build("clip-embed", "embed", clip_folder)
    images = decode_for(adapter, photo_bytes, "bus.jpg", "chelsea.png", "bus.jpg")
    results = ok(adapter.predict(images))
    for result in results:
        assert isinstance(result, EmbedResult)
        assert result.dim == len(result.vector) == 16  # the projection size
        assert sum(v * v for v in result.vector) == pytest.approx(1.0, abs=1e-4)
        assert all(v == round(v, 6) for v in result.vector)
    assert results[0].vector != results[1].vector
    assert results[0].vector == pytest.approx(results[2].vector, abs=1e-5)


def _cosine(a: EmbedResult, b: EmbedResult) -> float:
    return sum(x * y for x, y in zip(a.vector, b.vector))


def test_torchvision_embedder_real_mobilenet_means_something(photo_bytes):
    adapter = build("torchvision-embed", "embed", resolve_weights("pack:mobilenet_v2"))
    # The same bus, mirrored and shrunk, must sit nearer the bus than a cup of coffee or a rocket does.
    bus = Image.open(io.BytesIO(photo_bytes["bus.jpg"]))
    variant = io.BytesIO()
    ImageOps.mirror(bus).resize((405, 540)).save(variant, "JPEG", quality=85)
    images = decode_for(
        adapter,
        {**photo_bytes, "bus-variant": variant.getvalue()},
        "bus.jpg",
        "bus-variant",
        "coffee.png",
        "rocket.jpg",
    )
    bus_e, variant_e, coffee_e, rocket_e = ok(adapter.predict(images))
    assert bus_e.dim == 1280  # MobileNetV2's pooled features, the input of its classifier
    assert sum(v * v for v in bus_e.vector) == pytest.approx(1.0, abs=1e-4)
    assert _cosine(bus_e, variant_e) > 0.8
    assert _cosine(bus_e, variant_e) > _cosine(bus_e, coffee_e) + 0.2
    assert _cosine(bus_e, variant_e) > _cosine(bus_e, rocket_e) + 0.2


def test_torchvision_embedder_fine_tuned_head(tmp_path, photo_bytes):
    import torchvision

    from vision.adapters.torchvision_nets import replace_head

    torch.manual_seed(0)
    net = replace_head(torchvision.models.resnet18(weights=None), 2)  # a fine-tuned two-class classifier
    torch.save(net.state_dict(), tmp_path / "resnet18-sunglasses.pth")
    adapter = build(
        "torchvision-embed",
        "embed",
        tmp_path,
        labels=["sunglasses", "none"],
        options={"arch": "resnet18", "input_size": 64},
    )
    result = ok(adapter.predict(decode_for(adapter, photo_bytes, "zidane.jpg")))[0]
    assert result.dim == 512


# --- weight sources -----------------------------------------------------------------------------


def test_hub_sources_offline_say_how_to_provide_the_weights():
    with pytest.raises(WeightsUnavailableError) as hf:
        resolve_weights("hf:no-such-org/no-such-model")
    assert "hf:no-such-org/no-such-model" in hf.value.message
    assert "huggingface-cli download" in hf.value.message and "--weights" in hf.value.message
    assert hf.value.code.value == "weights_unavailable"
    with pytest.raises(WeightsUnavailableError) as yolo:
        resolve_weights("ultralytics:yolo-does-not-exist.pt")
    assert "ultralytics:yolo-does-not-exist.pt" in yolo.value.message and "--weights" in yolo.value.message


def test_hub_sources_resolve_from_the_local_caches(vit_classifier, yolo_checkpoint, photo_bytes):
    """The very loading path of a real hub checkpoint: a hub cache entry, resolved offline, then built."""
    from huggingface_hub import constants

    from vision.settings import get_settings

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = Path(constants.HF_HUB_CACHE) / "models--tiny-org--tiny-vit"
    shutil.copytree(vit_classifier, repo / "snapshots" / commit, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    folder = resolve_weights("hf:tiny-org/tiny-vit")
    assert folder == repo / "snapshots" / commit
    classifier = build("hf-classifier", "classify", folder)
    assert ok(classifier.predict(decode_for(classifier, photo_bytes, "bus.jpg")))[0].labels

    cached = get_settings().cache_dir / "ultralytics" / "weights" / "yolo-tiny.pt"
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(yolo_checkpoint, cached)
    assert resolve_weights("ultralytics:yolo-tiny.pt") == cached
    detector = build("yolo", "detect", cached, options={"imgsz": 128})
    assert isinstance(ok(detector.predict(decode_for(detector, photo_bytes, "zidane.jpg")))[0], DetectResult)
