"""Start the front: `python -m serving.front -m MODEL_URI [--host H --port P --workers N --timeout S]`.

What `idaas serve` and the container run. It prepares what every worker shares (a fresh
Prometheus multiprocess folder in the data directory, the model URI, the timeout) and hands
over to uvicorn, which forks the workers, drains in-flight requests on SIGTERM, then exits.
"""

from __future__ import annotations

import argparse
import os
import shutil

DEFAULT_MODEL_URI = "models:/idaas@production"


def prepare_env(model_uri: str, port: int, timeout: int) -> None:
    from vision.settings import apply_offline_env, get_settings

    settings = apply_offline_env()
    os.environ["IDAAS_SERVE_MODEL_URI"] = model_uri
    os.environ["IDAAS_ENFORCE_REQUEST_LIMITS"] = "1"
    # One timeout for all three layers: the engine drops a request's queued images at it,
    # MLflow's app and the front answer a JSON 504 at it.
    os.environ["IDAAS_REQUEST_TIMEOUT_S"] = str(timeout)
    os.environ["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(timeout)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Samples of a previous server on this port would be summed into this one's: start empty.
        folder = settings.home / "metrics" / f"port-{port}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    get_settings.cache_clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.front", description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model-uri", default=DEFAULT_MODEL_URI)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=60, help="seconds before a request gets a 504")
    args = parser.parse_args(argv)
    prepare_env(args.model_uri, args.port, args.timeout)

    import uvicorn

    uvicorn.run(
        "serving.front.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        lifespan="on",
        access_log=False,
        log_level="info",
        # A request still running this long after SIGTERM is abandoned (it has had its timeout).
        timeout_graceful_shutdown=args.timeout + 15,
    )


if __name__ == "__main__":
    main()
