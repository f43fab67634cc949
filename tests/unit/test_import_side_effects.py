"""Importing idaas changes nothing process-wide: Pillow's guards and the environment are the
caller's (a notebook that imports idaas keeps its own bomb guard; entry points set what they
need when they run)."""

from __future__ import annotations

import json
import subprocess
import sys

OURS = (
    "IDAAS_",
    "MLFLOW_",
    "HF_",
    "TRANSFORMERS_",
    "YOLO_",
    "TORCH_HOME",
    "DO_NOT_TRACK",
    "MPLCONFIGDIR",
    "SPARK_",
    "PYSPARK_",
    "ORT_",
    "DVC_",
)
PROBE = """
import json, os
from PIL import Image, ImageFile
before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, dict(os.environ))
import vision.image_input, vision.pipeline, vision.engine, vision.adapters.faces_mtcnn
import registry.pyfunc_model, registry.signature, registry.store, serving.batch.scorer
after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, dict(os.environ))
changed = sorted(k for k in set(before[2]) | set(after[2]) if before[2].get(k) != after[2].get(k))
print(json.dumps({"pillow": [before[:2], after[:2]], "env": changed}))
"""


def test_importing_idaas_changes_no_global_setting():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    before, after = seen["pillow"]
    assert before == after
    # Libraries set their own on import (OpenCV's Qt paths, torch's inductor cache, MLflow's
    # telemetry session id); what idaas's entry points set must wait for them to run.
    ours = [k for k in seen["env"] if k.startswith(OURS)]
    assert ours == []
