"""Errors raised by the parsers, and the policy for bad records (raise, or skip and log).

Every error a user can hit names the file, the line (1-based) or record number, what was expected and
what was found, e.g. ``u.data:17: expected 4 tab-separated fields (user, item, rating, timestamp), got 3``.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

from persona.errors import PersonaError

#: Appended to errors about one record, which ``skip_invalid=True`` (``--skip-invalid``) can skip. It
#: names the command-line flags: that is where the people who read these messages come from.
SKIP_HINT = "fix the record, or pass --skip-invalid to skip bad records (and --rejects FILE to log them)"


class InputError(PersonaError, ValueError):
    """A source file does not have the expected content.

    Attributes:
        path: The file (as given, or as joined from a directory argument).
        line: 1-based line number (for JSON lines: the record number, which is the same), or None when
            the problem concerns the whole file (missing, empty, not gzip…).
        expected: What the parser expected, in words.
        got: What it found.
        hint: Optional advice on what to do, appended in parentheses.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        line: int | None,
        expected: str,
        got: str,
        *,
        hint: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.expected = expected
        self.got = got
        self.hint = hint
        super().__init__(self.path, line, expected, got, hint)

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        msg = f"{where}: expected {self.expected}, got {self.got}"
        return f"{msg} ({self.hint})" if self.hint else msg

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_input_error, (self.path, self.line, self.expected, self.got, self.hint))


def _rebuild_input_error(
    path: str, line: int | None, expected: str, got: str, hint: str | None
) -> InputError:
    return InputError(path, line, expected, got, hint=hint)


class FetchError(PersonaError, RuntimeError):
    """A remote source (SPARQL endpoint) could not be read and no cached answer exists."""


def show(value: str, limit: int = 80) -> str:
    """Quote a piece of input for an error message, shortened to ``limit`` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


class RecordPolicy:
    """What happens to a bad record: raise (default) or skip it, count it and log it.

    Parsers call :meth:`bad` for every record-level problem. With ``skip_invalid=False`` the error is
    raised at once; otherwise it is remembered, and :meth:`finish` stores the count in
    ``stats["skipped"]`` and writes the records to ``rejects`` as JSON lines
    (``{"file", "line", "error", "raw"}``).

    Args:
        skip_invalid: Skip bad records instead of raising.
        rejects: Optional JSON-lines file for the skipped records (written by :meth:`finish`).
    """

    def __init__(self, skip_invalid: bool = False, rejects: str | PathLike[str] | None = None) -> None:
        self.skip_invalid = skip_invalid
        self.rejects = Path(rejects) if rejects is not None else None
        self.records: list[dict[str, Any]] = []

    def bad(self, error: InputError, raw: str | bytes | None = None) -> None:
        """Report one bad record: raise ``error``, or remember it when skipping.

        The advice on skipping (:data:`SKIP_HINT`) is appended to the error's own hint, if any.
        """
        if error.hint is None:
            error.hint = SKIP_HINT
        elif "--skip-invalid" not in error.hint:
            error.hint = f"{error.hint}; {SKIP_HINT}"
        if not self.skip_invalid:
            raise error
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "backslashreplace")
        self.records.append({"file": error.path, "line": error.line, "error": str(error), "raw": raw})

    def finish(self, stats: dict[str, Any]) -> None:
        """Record the number of skipped records in ``stats`` and write (replace) the rejects file."""
        stats["skipped"] = stats.get("skipped", 0) + len(self.records)
        files: dict[str, int] = {}
        for rec in self.records:
            files.setdefault(rec["file"], len(files))
        self.records.sort(key=lambda r: (files[r["file"]], r["line"] or 0))
        if self.rejects is not None and self.skip_invalid:
            self.rejects.parent.mkdir(parents=True, exist_ok=True)
            # backslashreplace: a record can never make the rejects file itself unwritable
            with self.rejects.open("w", encoding="utf-8", errors="backslashreplace") as fh:
                for rec in self.records:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.records.clear()
