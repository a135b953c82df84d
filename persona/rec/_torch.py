"""Small torch helpers: seeded RNG scopes, devices, vector standardisation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from persona.errors import ConfigError, ResourceError


def resolve_device(device: str | torch.device) -> torch.device:
    """``'cpu'``, ``'cuda'``, ``'cuda:N'`` -> a device, with a clear error when CUDA is absent."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"--device {device!r}: expected cpu, cuda or cuda:N ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ResourceError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}, "
                            f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu")
    return dev


@contextlib.contextmanager
def isolated_rng(device: torch.device) -> Iterator[None]:
    """Run a block with its own copy of torch's global RNG state (restored afterwards).

    Parameter initialisation draws from the global generator (``nn.init`` takes no ``torch.Generator``);
    forking it keeps a seeded build from disturbing, or being disturbed by, the caller's random state.
    Fits in several threads build one at a time (the global state is one per process).
    """
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=devices):
        yield


def standardise(mat: np.ndarray, *, skip_first_row: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre rows and scale by one global factor so components have unit variance on average.

    A single scale (not per-dimension z-scores) keeps the geometry of the embedding space: cosine-like
    neighbourhoods survive, only the overall size changes.

    Returns:
        ``(standardised matrix, mean row, scale)``; with ``skip_first_row`` row 0 (padding) stays zero and
        is left out of the statistics.
    """
    x = np.asarray(mat, dtype=np.float64)
    body = x[1:] if skip_first_row else x
    mean = body.mean(0)
    scale = float(np.sqrt(((body - mean) ** 2).sum(1).mean() / x.shape[1]))
    if not np.isfinite(scale) or scale == 0.0:
        scale = 1.0
    out = (x - mean) / scale
    if skip_first_row:
        out[0] = 0.0
    return out.astype(np.float32), mean.astype(np.float32), scale
