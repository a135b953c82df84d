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


_BLOCK = 1 << 22  # 4 MiB of (decompressed) text per read


def iter_line_blocks(
    path: str | PathLike[str],
    policy: RecordPolicy,
    *,
    expected: str,
    encoding: str = "utf-8",
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first_line_number, lines)`` blocks of ``path``, newline characters removed.

    Reading and decoding whole blocks keeps the per-line cost of big files (DBpedia dumps) low. Blank
    lines are included (callers skip them) so that line numbers stay exact. Lines that do not decode
    with ``encoding`` go to ``policy`` (raise, or skip and log) and come out as empty strings.

    Raises:
        InputError: missing file, a file without any non-blank line, truncated or corrupt gzip, or
            (without skipping) a line that is not valid ``encoding``.
    """
    path = Path(path)
    lineno = 0  # lines handed out so far
    rest = b""
    seen_any = False
    with open_binary(path) as fh:
        while True:
            try:
                block = fh.read(_BLOCK)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
                raise _gzip_error(path, _readable_lines(path) + 1, e) from None
            if block:
                block = rest + block
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest = block
                    continue
                rest = block[cut + 1 :]
                block = block[:cut]
            else:
                if not rest:
                    break
                block, rest = rest, b""
            if b"\r" in block:  # CRLF files; the block's last line lost its "\n" to the cut above
                block = block.replace(b"\r\n", b"\n")
                if block.endswith(b"\r"):
                    block = block[:-1]
            try:
                lines = block.decode(encoding).split("\n")
            except UnicodeDecodeError:
                lines = _decode_each(path, lineno, block.split(b"\n"), encoding, policy)
            if not seen_any:
                seen_any = any(line.strip() for line in lines)
            yield lineno + 1, lines
            lineno += len(lines)
    if not seen_any:
        raise InputError(path, None, expected, "an empty file")


def _decode_each(
    path: Path, lineno: int, raws: list[bytes], encoding: str, policy: RecordPolicy
) -> list[str]:
    out = []
    for k, raw in enumerate(raws, lineno + 1):
        try:
            out.append(raw.decode(encoding))
        except UnicodeDecodeError as e:
            policy.bad(
                InputError(
                    path, k, f"{encoding.upper()} text", f"byte 0x{raw[e.start]:02x} at column {e.start + 1}"
                ),
                raw,
            )
            out.append("")
    return out


def iter_lines(
    path: str | PathLike[str],
    policy: RecordPolicy,
    *,
    expected: str,
    encoding: str = "utf-8",
) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each non-blank line of ``path`` (newline removed).

    Args:
        path: A text file, or ``*.gz`` holding one.
        policy: Where undecodable lines go.
        expected: What the file should hold, in words (used when it is empty).
        encoding: Text encoding (``utf-8``; MovieLens ``u.item`` is ``latin-1``).

    Raises:
        InputError: see :func:`iter_line_blocks`.
    """
    for first, lines in iter_line_blocks(path, policy, expected=expected, encoding=encoding):
        for n, text in enumerate(lines, first):
            if text and not text.isspace():
                yield n, text


def _readable_lines(path: Path) -> int:
    """Newlines that can be decompressed before a gzip stream breaks (for the error's line number)."""
    n = 0
    with gzip.open(path, "rb") as fh:
        try:
            while chunk := fh.read(1 << 16):
                n += chunk.count(b"\n")
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError):
            pass
    return n


def _gzip_error(path: Path, line: int | None, e: BaseException) -> InputError:
    if isinstance(e, EOFError):
        return InputError(
            path,
            line,
            "a complete gzip stream",
            "a truncated file (it ends mid-stream)",
            hint="download it again",
        )
    return InputError(path, line, "gzip data (the name ends in .gz)", f"unreadable data ({e})")


def split_fields(
    path: Path, lineno: int, text: str, sep: str, n: int, describe: str, policy: RecordPolicy
) -> list[str] | None:
    """Split ``text`` on ``sep`` into exactly ``n`` fields, else report it to ``policy`` and return None."""
    fields = text.split(sep)
    if len(fields) != n:
        sepname = {"\t": "tab", "|": "'|'", ",": "comma"}.get(sep, repr(sep))
        policy.bad(
            InputError(path, lineno, f"{n} {sepname}-separated fields ({describe})", f"{len(fields)}"), text
        )
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


def parse_float(
    path: Path, lineno: int, value: str, what: str, policy: RecordPolicy, raw: str
) -> float | None:
    """``float(value)``, else report a bad record and return None."""
    try:
        return float(value)
    except ValueError:
        policy.bad(InputError(path, lineno, f"a number for {what}", show(value)), raw)
        return None
