"""Giving freed memory back to the operating system between the stages of a long job.

glibc's ``malloc`` keeps the memory of freed objects in its heaps for reuse; after a stage that built
and dropped many mid-sized buffers (text-embedding frames, Arrow tables, meta-path products) the process
stays that much larger for the rest of the job. :func:`trim` asks glibc to return what it can
(``malloc_trim(0)``); on other C libraries it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.malloc_trim  # noqa: B018 (glibc only)
    except (OSError, AttributeError):
        return None
    return lib


def trim() -> bool:
    """Collect garbage and return free heap memory to the OS; True when the C library could."""
    gc.collect()
    lib = _libc()
    if lib is None:
        return False
    lib.malloc_trim(0)
    return True
