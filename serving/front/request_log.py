"""One JSON line per /invocations request (and per refused request on any path): request id,
images, tasks, model versions, latency, outcome, error codes. Never image content, never ids.

To stderr always; with IDAAS_REQUEST_LOG_FILE=1 also to rotating files under
<home>/logs/requests/, one file per worker process, because several processes rotating one
file would lose lines.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from logging.handlers import RotatingFileHandler
from typing import Any

from vision.settings import Settings

log = logging.getLogger("idaas.requests")


def configure(settings: Settings) -> None:
    if log.handlers:
        return
    log.setLevel(logging.INFO)
    log.propagate = False  # the line is the record; no logger prefix, no duplicate via root
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(stream)
    if settings.request_log_file:
        folder = settings.home / "logs" / "requests"
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            folder / f"requests-{os.getpid()}.jsonl", maxBytes=50_000_000, backupCount=5, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)


def write(record: dict[str, Any]) -> None:
    line = {"ts": round(time.time(), 3), "event": "request", **record}
    log.info(json.dumps(line, separators=(",", ":"), default=str))
