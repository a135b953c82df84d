"""Reading text files line by line, plain or gzip, with errors that name the file and line."""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import BinaryIO

from ._values import INT64_MAX, INT64_MIN
from .errors import InputError, RecordPolicy, show

_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark at the start of a file is dropped
_GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: Path) -> BinaryIO:
    """Open ``path`` for reading bytes; ``*.gz`` is decompressed.

    Raises:
        InputError: missing file, a directory, an unreadable file, or gzip data in a file whose name
            does not end in ``.gz`` (it would otherwise fail line by line as undecodable text).
    """
    if not path.is_file():
        got = "a directory" if path.is_dir() else "no such file"
        raise InputError(path, None, "an existing file", got, hint="check the path")
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        fh = path.open("rb")
    except OSError as e:
        raise InputError(path, None, "a readable file", f"{type(e).__name__}: {e.strerror or e}") from None
    if fh.peek(2)[:2] == _GZIP_MAGIC:
        fh.close()
        raise InputError(
            path,
            None,
            "a plain text file (gzip-compressed files need a name ending in .gz)",
            "gzip-compressed data",
            hint=f"rename it to {path.name}.gz, or decompress it",
        )
    return fh


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
    first_read = True
    with open_binary(path) as fh:
        while True:
            try:
                block = fh.read(_BLOCK)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
                raise _gzip_error(path, _readable_lines(path) + 1, e) from None
            if first_read:
                first_read = False
                block = block.removeprefix(_BOM)
                if block.startswith((b"\xff\xfe", b"\xfe\xff")) and encoding.lower() in ("utf-8", "utf8"):
                    raise InputError(
                        path,
                        None,
                        "UTF-8 text",
                        "UTF-16 text (it starts with a UTF-16 byte order mark)",
                        hint="save it again as UTF-8",
                    )
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
                text = block.decode(encoding)
                lines = text.split("\n")
                has_nul = "\x00" in text
            except UnicodeDecodeError:
                lines = _decode_each(path, lineno, block.split(b"\n"), encoding, policy)
                has_nul = any("\x00" in line for line in lines)
            if has_nul:
                lines = _drop_nul_lines(path, lineno, lines, policy)
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


def _drop_nul_lines(path: Path, lineno: int, lines: list[str], policy: RecordPolicy) -> list[str]:
    """Lines holding a NUL character (binary data, a corrupt copy) go to ``policy`` and become empty."""
    out = []
    for k, line in enumerate(lines, lineno + 1):
        col = line.find("\x00")
        if col < 0:
            out.append(line)
            continue
        policy.bad(
            InputError(path, k, "a line of text", f"a NUL byte at column {col + 1} (binary data?)"), line
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
    d = zlib.decompressobj(wbits=31)  # gzip framing; all output before the break is counted
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            while chunk:
                try:
                    n += d.decompress(chunk).count(b"\n")
                except zlib.error:
                    return n
                if d.eof:  # a multi-member file: the next member starts in unused_data
                    chunk = d.unused_data
                    d = zlib.decompressobj(wbits=31)
                else:
                    chunk = b""
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


def to_int(value: str) -> int | None:
    """``int(value)``, accepting ``"12.0"`` and ``"1e9"``; None for anything else (``"1_000"`` included)."""
    if "_" in value:
        return None
    try:
        return int(value)
    except ValueError:
        try:
            f = float(value)
        except ValueError:
            return None
        return int(f) if f.is_integer() else None  # inf and nan are not integers


def parse_int(path: Path, lineno: int, value: str, what: str, policy: RecordPolicy, raw: str) -> int | None:
    """``int(value)`` (accepting ``"12.0"``) that fits in 64 bits, else report a bad record, return None."""
    v = to_int(value)
    if v is None:
        policy.bad(InputError(path, lineno, f"an integer {what}", show(value)), raw)
        return None
    if not INT64_MIN <= v <= INT64_MAX:
        policy.bad(InputError(path, lineno, f"an integer {what} within 64 bits", show(value)), raw)
        return None
    return v


def parse_float(
    path: Path, lineno: int, value: str, what: str, policy: RecordPolicy, raw: str
) -> float | None:
    """``float(value)`` if it is a finite number, else report a bad record and return None."""
    try:
        f = float(value) if "_" not in value else None
    except ValueError:
        f = None
    if f is None:
        policy.bad(InputError(path, lineno, f"a number for {what}", show(value)), raw)
        return None
    if not math.isfinite(f):
        policy.bad(InputError(path, lineno, f"a finite number for {what}", show(value)), raw)
        return None
    return f
