"""Seeded, isolated random state and other process-wide torch switches, scoped to one block.

Dropout, weight initialisation and PyG's ``DeepGraphInfomax`` corruption draw from torch's global
generator, which cannot be replaced by a ``torch.Generator`` argument. :func:`seeded_rng` forks that
state, seeds the fork and restores the caller's state afterwards, so a seeded training run neither
disturbs nor is disturbed by the caller's random state (the caller's ``torch.rand`` after a run gives what
it would have given without it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def _cuda_index(device: torch.device) -> list[int]:
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


@contextmanager
def seeded_rng(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run a block on a private copy of torch's global RNG state, seeded with ``seed``.

    The CPU generator and, for a CUDA ``device``, that device's generator are forked and seeded; both are
    restored when the block ends (also on error). Other CUDA devices are not touched.

    Args:
        seed: Seed of the block's random state.
        device: The device the block computes on (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
    """
    devices = _cuda_index(torch.device(device))
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        for d in devices:
            with torch.cuda.device(d):
                torch.cuda.manual_seed(seed)
        yield


@contextmanager
def flush_denormal() -> Iterator[None]:
    """Flush denormal floats to zero inside the block (restored afterwards).

    Why: the infomax loss nears 0, and denormal gradients stall CPUs.
    """
    supported = torch.set_flush_denormal(True)  # False where the CPU has no such mode
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)
