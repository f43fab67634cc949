"""Observers of the engine: called after every batch, for metrics and benchmarks.

Kept apart from the workers so a metrics exporter (serving) can watch batches without the
engine knowing that Prometheus exists.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class BatchListener(Protocol):
    def __call__(self, task: str, model: str, batch_size: int, queue_depth: int, seconds: float) -> None: ...


_listeners: list[BatchListener] = []
_lock = threading.Lock()


def add_batch_listener(listener: BatchListener) -> Callable[[], None]:
    """Call ``listener(task, model, batch_size, queue_depth, seconds)`` after every batch of
    every worker in this process; returns a function that removes it again."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def notify_batch(task: str, model: str, batch_size: int, queue_depth: int, seconds: float) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(task, model, batch_size, queue_depth, seconds)
        except Exception:  # noqa: BLE001 - an observer must never break inference
            log.exception("batch listener %r failed", listener)
