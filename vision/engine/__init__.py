"""The inference engine under every pipeline: one long-lived worker per model, cross-request
dynamic batching, bounded queues (see worker.py for the why)."""

from vision.engine.engine import Engine, queue_depths
from vision.engine.listeners import add_batch_listener
from vision.engine.worker import ModelWorker

__all__ = ["Engine", "ModelWorker", "add_batch_listener", "queue_depths"]
