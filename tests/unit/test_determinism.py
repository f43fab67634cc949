"""training.determinism: two fresh processes that seed the same way train to the same bits.

Each run is a separate interpreter (a seed is process state), doing what train_classifier does
in small: a shuffled DataLoader with two workers whose items draw from Python's, NumPy's and
torch's generators, and a few AdamW steps of a small convolutional net (convolutions, batch norm,
and adaptive pooling, whose CUDA backward pass torch flags as nondeterministic). Run this file
as a script to print one run's fingerprint: ``python tests/unit/test_determinism.py cpu``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def fingerprint(device: str) -> dict[str, object]:
    """Train a few steps; the digests of every batch and of the final weights, and each worker's draws."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from training.determinism import make_deterministic, seed_worker

    class Noisy(Dataset):
        def __len__(self) -> int:
            return 16

        def __getitem__(self, i: int):
            # the three generators an augmentation may use, as seen from a worker process
            shift = random.random() + float(np.random.rand())
            image = torch.rand(3, 32, 32) + shift
            return image, i % 3, torch.utils.data.get_worker_info().id

    make_deterministic(seed=0, threads=2)
    loader = DataLoader(
        Noisy(),
        batch_size=4,
        shuffle=True,
        num_workers=2,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(0),
    )
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 3),
    ).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    batches, by_worker = [], {}
    for x, y, worker in loader:
        batches.append(hashlib.sha256(x.numpy().tobytes()).hexdigest()[:16])
        by_worker.setdefault(int(worker[0]), []).append(float(x.mean()))
        loss = torch.nn.functional.cross_entropy(net(x.to(device)), y.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    weights = hashlib.sha256()
    for tensor in net.state_dict().values():
        weights.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return {
        "batches": batches,
        "weights": weights.hexdigest()[:16],
        "by_worker": by_worker,
        "threads": torch.get_num_threads(),
    }


def _fresh_run(device: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, __file__, device], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_fresh_cpu_runs_train_to_identical_weights():
    first, second = _fresh_run("cpu"), _fresh_run("cpu")
    assert first == second
    assert first["threads"] == 2
    # each worker drew its own numbers, not a copy of the other's (a forked worker inherits its parent's state)
    assert first["by_worker"]["0"] != first["by_worker"]["1"]


@pytest.mark.gpu
def test_two_fresh_cuda_runs_train_to_identical_weights():
    assert _fresh_run("cuda") == _fresh_run("cuda")


if __name__ == "__main__":
    print(json.dumps(fingerprint(sys.argv[1] if len(sys.argv) > 1 else "cpu")))
