"""The one error family of persona-kg.

Every failure a person can cause and fix — bad input, a store that cannot be reached, a missing trained
run, an unknown id, a full disk, a device that is not there — is a :class:`PersonaError`. The CLI prints
its message as one line and exits with status 2; anything else is a bug and keeps its traceback.

Each class also derives from the built-in exception it refines (``InputError`` is a ``ValueError``,
``NotFoundError`` a ``KeyError``…), so code that catches the built-ins keeps working.
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Any


class PersonaError(Exception):
    """A failure a person can cause and fix; the message says what to do."""


class ConfigError(PersonaError, ValueError):
    """A setting, flag or configuration file value is not acceptable."""


class NotFoundError(PersonaError, KeyError):
    """An id (user, item, run…) that the store or the run does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(PersonaError, RuntimeError):
    """No trained model fits the request (missing, from another store, incompatible)."""


class ResourceError(PersonaError, OSError):
    """The machine lacks what the command needs: disk space, a CUDA device, memory."""


def atomic_save(save: Any, obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` with ``save(obj, file)`` so that a crash or a full disk never leaves a partial file.

    ``save`` (e.g. ``torch.save``) serialises into memory first; the bytes then go to ``PATH.tmp`` with
    plain file I/O, are fsynced and renamed over ``path``. Serialising first matters: torch's own file
    writer reports a full disk as ``enforce fail at inline_container.cc … unexpected pos``, while
    ``write(2)`` says ``ENOSPC``. On failure the temporary file is removed and ``path`` keeps its
    previous content; a full disk becomes a :class:`ResourceError` naming the file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    buf = io.BytesIO()
    save(obj, buf)
    try:
        with open(tmp, "wb") as fh:
            fh.write(buf.getbuffer())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        if _is_disk_full(e):
            raise ResourceError(
                errno.ENOSPC, f"disk full while writing {path}; free space and re-run (nothing partial was kept)"
            ) from None
        raise


def _is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(e)
    return "No space left on device" in text or ("inline_container.cc" in text and "file write failed" in text)


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` (or what it wraps) says the disk is full."""
    while e is not None:
        if _is_disk_full(e):
            return True
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return False
