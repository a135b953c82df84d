"""Terminal output helpers: Rich progress bars and summary tables (kept out of the plain functions)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Any]:
    """Yield a ``progress(description, done, total)`` callback drawing one Rich bar per description."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as prog:
        tasks: dict[str, Any] = {}

        def update(desc: str, done: int, total: int) -> None:
            if desc not in tasks:
                tasks[desc] = prog.add_task(desc, total=total)
            prog.update(tasks[desc], completed=done, total=total)

        yield update


def table(title: str, rows: list[Mapping[str, Any]] | Mapping[str, Any], columns: list[str] | None = None) -> Table:
    """A Rich table from a list of dicts (or one ``{name: value}`` mapping as two columns)."""
    if isinstance(rows, Mapping):
        rows = [{"name": k, "value": v} for k, v in rows.items()]
    columns = columns or (list(rows[0].keys()) if rows else [])
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(str(c), justify="right" if rows and isinstance(rows[0].get(c), (int, float)) else "left")
    for r in rows:
        t.add_row(*[Text(_fmt(r.get(c))) for c in columns])  # values are data, never markup
    return t


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, dict)):
        s = json.dumps(v, default=str)
        return s if len(s) < 80 else s[:77] + "…"
    return "" if v is None else str(v)
