"""Same data, params and machine, same metrics: every generator seeded and torch held to
deterministic kernels and a fixed CPU thread count, set once per stage before any model exists.

What this does and does not promise on a GPU: README, "Training".
"""

from __future__ import annotations

import os
import platform
import random
from importlib import metadata

import numpy as np

# The libraries whose versions decide a run's numbers; each training run records them.
VERSIONED = ("torch", "torchvision", "numpy", "pillow", "scikit-learn", "ultralytics", "mlflow", "dvc")


def make_deterministic(seed: int, threads: int) -> None:
    """Seed Python, NumPy and torch, pin the CPU thread count, and make torch pick deterministic kernels."""
    # cuBLAS repeats its sums only with a fixed workspace; it reads this when CUDA starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch
    from threadpoolctl import threadpool_limits

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # the CPU generator and every CUDA device's
    # A float sum splits its work by thread, and the split changes the last bits.
    torch.set_num_threads(threads)
    threadpool_limits(threads)  # NumPy's BLAS and OpenMP: the scikit-learn baselines
    torch.backends.cudnn.benchmark = False  # benchmarking picks the fastest kernel, run by run
    torch.backends.cudnn.deterministic = True
    # Some CUDA backward kernels (adaptive average pooling, scatter-add) have no deterministic
    # version: on a GPU they warn rather than stop the training. On a CPU any such kernel stops it.
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed a worker's Python and NumPy from the seed torch gave it.

    torch (1.9 and later) does this itself; saying it here keeps an augmentation's draws tied to
    the loader's generator whatever the torch version or the start method of the workers.
    """
    import torch

    seed = torch.initial_seed() % 2**32  # the loader's generator seed + worker_id
    random.seed(seed)
    np.random.seed(seed)


def run_facts(seed: int, threads: int) -> dict[str, str]:
    """MLflow tags that say what a run's numbers depend on besides data and params."""
    facts = {
        "idaas.seed": str(seed),
        "idaas.cpu_threads": str(threads),
        "idaas.deterministic": "true",
        "idaas.version.python": platform.python_version(),
        "idaas.machine": platform.machine(),
    }
    for name in VERSIONED:
        try:
            facts[f"idaas.version.{name}"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return facts
