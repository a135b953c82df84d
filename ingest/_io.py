"""Reading text files line by line, plain or gzip, with errors that name the file and line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, RecordPolicy, show


def open_binary(path: Path) -> BinaryIO:
    """Open ``path`` for reading bytes; ``*.gz`` is decompressed. Raises :class:`InputError` if missing."""
    if not path.is_file():
        got = "a directory" if path.is_dir() else "no such file"
        raise InputError(path, None, "an existing file", got, hint="check the path")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_bytes(path: str | PathLike[str]) -> bytes:
    """Whole (decompressed) content of ``path``; truncated or corrupt gzip raises :class:`InputError`."""
    path = Path(path)
    with open_binary(path) as fh:
        try:
            data = fh.read()
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
            raise _gzip_error(path, None, e) from None
    if not data.strip():
        raise InputError(path, None, "a non-empty file", "an empty file")
    return data


def iter_lines(
    path: str | PathLike[str],
    policy: RecordPolicy,
    *,
    expected: str,
    encoding: str = "utf-8",
) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each non-blank line of ``path`` (trailing newline removed).

    Lines that do not decode with ``encoding`` go to ``policy`` (raise, or skip and log).

    Args:
        path: A text file, or ``*.gz`` holding one.
        policy: Where undecodable lines go.
        expected: What the file should hold, in words (used when it is empty).
        encoding: Text encoding (``utf-8``; MovieLens ``u.item`` is ``latin-1``).

    Raises:
        InputError: missing file, empty file, truncated or corrupt gzip, or (without skipping) a line
            that is not valid ``encoding``.
    """
    path = Path(path)
    n = 0
    seen_any = False
    with open_binary(path) as fh:
        it = iter(fh)
        while True:
            try:
                raw = next(it)
            except StopIteration:
                break
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
                raise _gzip_error(path, n + 1, e) from None
            n += 1
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as e:
                policy.bad(
                    InputError(path, n, f"{encoding.upper()} text", f"byte 0x{raw[e.start]:02x} at column {e.start + 1}"),
                    raw,
                )
                seen_any = True
                continue
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            seen_any = True
            yield n, text
    if not seen_any:
        raise InputError(path, None, expected, "an empty file")


def _gzip_error(path: Path, line: int | None, e: BaseException) -> InputError:
    if isinstance(e, EOFError):
        return InputError(
            path, line, "a complete gzip stream", "a truncated file (it ends mid-stream)", hint="download it again"
        )
    return InputError(path, line, "gzip data (the name ends in .gz)", f"unreadable data ({e})")


def split_fields(
    path: Path, lineno: int, text: str, sep: str, n: int, describe: str, policy: RecordPolicy
) -> list[str] | None:
    """Split ``text`` on ``sep`` into exactly ``n`` fields, else report it to ``policy`` and return None."""
    fields = text.split(sep)
    if len(fields) != n:
        sepname = {"\t": "tab", "|": "'|'", ",": "comma"}.get(sep, repr(sep))
        policy.bad(InputError(path, lineno, f"{n} {sepname}-separated fields ({describe})", f"{len(fields)}"), text)
        return None
    return fields


def parse_int(path: Path, lineno: int, value: str, what: str, policy: RecordPolicy, raw: str) -> int | None:
    """``int(value)`` (accepting ``"12.0"``), else report a bad record and return None."""
    try:
        return int(value)
    except ValueError:
        try:
            f = float(value)
            if f.is_integer():
                return int(f)
        except ValueError:
            pass
    policy.bad(InputError(path, lineno, f"an integer {what}", show(value)), raw)
    return None


def parse_float(path: Path, lineno: int, value: str, what: str, policy: RecordPolicy, raw: str) -> float | None:
    """``float(value)``, else report a bad record and return None."""
    try:
        return float(value)
    except ValueError:
        policy.bad(InputError(path, lineno, f"a number for {what}", show(value)), raw)
        return None
