"""All of idaas's settings, in one place, with defaults that work on a laptop.

Every setting can be overridden by an environment variable named ``IDAAS_<FIELD>``
(``IDAAS_HOME``, ``IDAAS_MAX_IMAGE_BYTES`` ...), which is how a team deployment
configures the service without touching code.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    # Inside a checkout, everything the project writes lives in <repo>/.idaas (git-ignored);
    # an installed copy without a checkout falls back to the user's home.
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").exists():
        return repo / ".idaas"
    return Path.home() / ".idaas"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDAAS_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="data directory for everything written at run time")
    offline: bool = Field(True, description="never reach a model hub; weights must be local or already cached")

    # Image input limits (the one door in vision.image_input).
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    min_image_side: int = 16

    # Inference.
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1' ...")
    batch_size: int = Field(8, description="images per model call when an adapter is called directly")

    # The engine (vision/engine): one worker per model, batching across requests.
    max_batch: int | None = Field(
        None,
        ge=1,
        description="most images one model runs in one batch (spec option max_batch); unset: the family's "
        "default, else 32 on a GPU and the adapter's batch_size on the CPU, where larger batches fall out "
        "of the caches and run slower per image",
    )
    max_wait_ms: float = Field(
        5.0,
        ge=0,
        description="how long a worker waits for more images before running a partial batch (spec option max_wait_ms)",
    )
    queue_size: int = Field(
        256, ge=1, description="images one model may have queued; a server refuses more with 'overloaded'"
    )
    model_free_threads: int = Field(2, ge=1, description="worker threads for each model-free CPU task (properties)")
    decode_threads: int = Field(
        default_factory=lambda: min(8, os.cpu_count() or 1),
        ge=1,
        description="threads (one pool per process) that decode the images of a request of several images",
    )
    request_timeout_s: float | None = Field(
        None,
        gt=0,
        validation_alias=AliasChoices("IDAAS_REQUEST_TIMEOUT_S", "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"),
        description="a request's images still queued after this many seconds are dropped (the scoring "
        "server's 504 timeout when it sets one)",
    )

    # Serving limits, checked before any decoding. Only a server enforces them (`idaas serve`
    # and the container set IDAAS_ENFORCE_REQUEST_LIMITS=1): a notebook or a Spark task
    # scoring 10,000 rows in one predict call is not a request to refuse.
    enforce_request_limits: bool = False
    # Set by `idaas serve --allow-unreviewed` for the server it starts: every answer's
    # "models" then says [UNREVIEWED], so no caller mistakes it for a gated service.
    allow_unreviewed: bool = False
    max_images_per_request: int = 32
    max_request_bytes: int = 64 * 1024 * 1024
    max_request_pixels: int = Field(
        200_000_000, description="decoded pixels one request may hold (32 large photos must not exhaust memory)"
    )
    # The HTTP front (serving/front) checks these before MLflow parses a body.
    max_json_depth: int = Field(32, ge=4, description="nesting levels a JSON body may have")
    max_metadata_bytes: int = Field(
        256 * 1024, description="bytes of a request besides its images (ids, tasks, parameters, JSON syntax)"
    )
    request_log_file: bool = Field(
        False,
        description="also write the JSON request log to rotating files "
        "under <home>/logs/requests/ (it always goes to stderr)",
    )
    serve_model_uri: str = Field(
        "models:/idaas@production", description="the model each front worker loads (set by `idaas serve -m`)"
    )

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def registry_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def default_tracking_uri(self) -> str:
        return f"sqlite:///{self.registry_db}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def apply_offline_env(settings: Settings | None = None) -> Settings:
    """Point every library's caches into the data directory and keep them off the network.

    Called once by every entry point (CLI, pyfunc load, tests) before a library that reads
    these variables is imported. Values a user already exported win.
    """
    s = settings or get_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    yolo_dir = s.cache_dir / "ultralytics"
    env = {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "DO_NOT_TRACK": "1",
        "HF_HOME": str(s.cache_dir / "huggingface"),
        "TORCH_HOME": str(s.cache_dir / "torch"),
        "YOLO_CONFIG_DIR": str(yolo_dir),
        "MPLCONFIGDIR": str(s.cache_dir / "matplotlib"),
        # Telemetry and update checks off for every library, online or not: nothing leaves
        # the machine. onnxruntime (OCR) otherwise queues events with the OS and the venv
        # path in ~/.cache/Microsoft/DeveloperTools; DVC checks for updates and sends
        # analytics; Hugging Face and pip report usage or look for new versions.
        "ORT_DISABLE_TELEMETRY": "1",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    if s.offline:
        env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "YOLO_OFFLINE": "1"}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    _install_ultralytics_font(Path(os.environ["YOLO_CONFIG_DIR"]))
    return s


def _install_ultralytics_font(config_dir: Path) -> None:
    # Ultralytics downloads Arial.ttf the first time it draws or checks a dataset; a copy of
    # matplotlib's DejaVuSans under that name keeps it off the network.
    target = config_dir / "Ultralytics" / "Arial.ttf"
    if target.exists():
        return
    try:
        import matplotlib

        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    except ImportError:  # matplotlib is a dependency; this only guards odd installs
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(source.read_bytes())
    tmp.replace(target)
    (target.parent / "Arial.Unicode.ttf").exists() or (target.parent / "Arial.Unicode.ttf").write_bytes(
        source.read_bytes()
    )


def quiet_ultralytics() -> None:
    """Switch off Ultralytics' own MLflow logging and usage analytics, both on by default.

    Its MLflow callback would log training runs on its own, beside ours, into whatever
    tracking store the environment points at; the switch lives in Ultralytics' settings
    file (under YOLO_CONFIG_DIR, in the data directory), so it holds for every process.
    """
    apply_offline_env()  # YOLO_CONFIG_DIR must be set before ultralytics is imported
    from ultralytics import settings as ultralytics_settings

    off = {key: False for key in ("mlflow", "sync") if ultralytics_settings.get(key)}
    if off:
        ultralytics_settings.update(off)
