"""Terminal output helpers: Rich progress bars and summary tables (kept out of the plain functions).

Numbers are shown rounded to what they mean (:func:`fmt`): seconds to 0.1 (``77.9 s``), ranking metrics
to 4 places, attention weights and similarities to 3, ratings without trailing zeros (``2``, ``4.5``),
booleans as ``true``/``false``. The kind of a value comes from its column (or row) name, or is given.

Why one long module: every terminal rendering the CLI shares — progress bars (stage, per-model and
overall), tables and number formatting — so that all commands look alike.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

# ----------------------------------------------------------------------------------------- progress

_TOTAL_ROW = "__total__"


@dataclass
class _Stream:
    total: int
    done: int = 0
    cumulative: bool = False
    stages: list[str] = field(default_factory=list)


@dataclass
class _Stage:
    stream: _Stream
    start: int


class StageCounter:
    """Turn ``progress(description, done, total)`` calls into rows that each count their own stage.

    Producers report in one of two ways. Most give each description its own ``done``/``total`` (text
    encoding, HDGI epochs). The stores' loaders and the graph export report one *cumulative* count over
    all stages while the description names the current stage (``nodes User`` 943 of 127,093 rows in
    all, then ``rels RATED`` 101,943 of 127,093). A new description that carries on the count of the
    unfinished stream before it (same total, ``done`` not going back) marks such a stream: each stage then
    gets a row counting only its own rows (open-ended until the next stage starts) and a ``total`` row
    shows the overall count.

    ``add(key, description, completed, total)``, ``update(key, completed, total)`` and ``remove(key)``
    receive the rows (``total`` None: not known yet). ``finish(key)``, when given, is told about every
    row of a stream once another stream starts (producers report one stage at a time, so the earlier
    stream is over even when it stopped short of its total, e.g. HDGI stopping early).
    """

    def __init__(
        self,
        add: Callable[[str, str, int, int | None], None],
        update: Callable[[str, int, int | None], None],
        remove: Callable[[str], None],
        finish: Callable[[str], None] | None = None,
    ) -> None:
        self._add, self._update, self._remove, self._finish = add, update, remove, finish
        self._stages: dict[str, _Stage] = {}
        self._last: _Stream | None = None

    def finish_all(self) -> None:
        """Tell ``finish`` about every row so far (other work starts)."""
        if self._finish is None:
            return
        seen: set[int] = set()
        for stage in self._stages.values():
            if id(stage.stream) not in seen:
                seen.add(id(stage.stream))
                self._finish_stream(stage.stream)

    def _finish_stream(self, s: _Stream) -> None:
        if self._finish is None:
            return
        for d in s.stages:
            self._finish(d)
        if s.cumulative:
            self._finish(_TOTAL_ROW + str(id(s)))

    def __call__(self, desc: str, done: int, total: int) -> None:
        stage = self._stages.get(desc)
        if stage is None:
            s = self._last
            if s is not None and s.total == total and s.done < total and done >= s.done and s.stages:
                self._continue(s, desc)
            else:
                if s is not None:
                    self._finish_stream(s)
                s = _Stream(total)
                self._stages[desc] = _Stage(s, 0)
                s.stages.append(desc)
                self._add(desc, desc, done, total)
            stage = self._stages[desc]
        s = stage.stream
        s.done = max(s.done, done) if s.cumulative else done
        s.total = total
        self._last = s
        if not s.cumulative:
            self._update(desc, done, total)
            return
        own = done - stage.start
        self._update(desc, own, own if done >= total else None)
        self._update(_TOTAL_ROW + str(id(s)), done, total)

    def _continue(self, s: _Stream, desc: str) -> None:
        prev = s.stages[-1]
        prev_stage = self._stages[prev]
        count = s.done - prev_stage.start
        if not s.cumulative:  # the first stage was shown against the grand total: re-draw it as a stage
            s.cumulative = True
            self._remove(prev)
            self._add(_TOTAL_ROW + str(id(s)), "total", s.done, s.total)
            self._add(prev, prev, count, count)
        else:
            self._update(prev, count, count)
        self._stages[desc] = _Stage(s, s.done)
        s.stages.append(desc)
        self._add(desc, desc, 0, None)


class Bars(StageCounter):
    """What :func:`progress_bar` yields: a ``progress(description, done, total)`` callback drawing one row
    per stage (see :class:`StageCounter`), plus a bar per trained model and an overall bar with the time
    left (:class:`persona.rec.experiment.TrainingProgress`). Finished rows are hidden at once."""

    def __init__(self, prog: Progress) -> None:
        self._prog = prog
        self._tasks: dict[str, TaskID] = {}
        super().__init__(self._add_row, self._update_row, self._remove_row, self._hide_row)

    def _add_row(self, key: str, desc: str, completed: int, total: int | None) -> None:
        self._tasks[key] = self._prog.add_task(desc, completed=completed, total=total, info="")

    def _update_row(self, key: str, completed: int, total: int | None) -> None:
        finished = total is not None and completed >= total
        if total is None:
            self._prog.update(self._tasks[key], completed=completed, visible=True)
        else:
            self._prog.update(self._tasks[key], completed=completed, total=total, visible=not finished)

    def _remove_row(self, key: str) -> None:
        self._prog.remove_task(self._tasks.pop(key))

    def _hide_row(self, key: str) -> None:
        if key in self._tasks:
            self._prog.update(self._tasks[key], visible=False)

    @contextmanager
    def model(self, description: str, epochs: int) -> Iterator[Callable[[Mapping[str, Any]], None]]:
        """A bar of ``epochs`` epochs while one model trains; the callback takes an epoch record
        (``epoch``, ``loss``, ``valid_ndcg@10``); the bar is removed when the model is done."""
        self.finish_all()
        task = self._prog.add_task(description, total=epochs, info="")
        best = -math.inf

        def on_epoch(rec: Mapping[str, Any]) -> None:
            nonlocal best
            self._prog.update(task, completed=int(rec["epoch"]), info=epoch_info(rec, best))
            best = max(best, float(rec.get("valid_ndcg@10", -math.inf)))

        try:
            yield on_epoch
        finally:
            self._prog.remove_task(task)

    @contextmanager
    def overall(self, description: str, total: int, done: int = 0) -> Iterator[Callable[[], None]]:
        """A bar over ``total`` units, ``done`` of them finished before, showing the time left (mean time
        per unit finished here); the callback marks one more unit finished."""
        self.finish_all()
        now = time.monotonic()
        task = self._prog.add_task(description, total=total, completed=done, info="", eta=(now, 0, now))

        finished = 0

        def advance() -> None:
            nonlocal finished
            finished += 1
            self._prog.update(task, advance=1, eta=(now, finished, time.monotonic()))

        try:
            yield advance
        finally:
            self._prog.remove_task(task)


def epoch_info(rec: Mapping[str, Any], best: float = -math.inf) -> str:
    """``loss 0.6931 · valid NDCG@10 0.0712 (best 0.0740)`` for one epoch record."""
    parts = [f"loss {fmt_metric(float(rec['loss']))}"]
    v = rec.get("valid_ndcg@10")
    if v is not None:
        text = f"valid NDCG@10 {fmt_metric(float(v))}"
        if math.isfinite(best) and best > float(v):
            text += f" (best {fmt_metric(best)})"
        parts.append(text)
    return " · ".join(parts)


def time_left(started: float, finished: int, last: float, left: int, now: float) -> str:
    """The remaining-time text of an overall bar: the mean time per unit finished so far times the
    units left, less the time the current unit has already run.

    Example:
        >>> time_left(0.0, 2, 600.0, 3, 660.0)
        'about 14 min left'
    """
    if left <= 0:
        return ""
    if finished <= 0:
        return "estimating time left…"
    per = (last - started) / finished
    s = max(per * left - (now - last), 0.0)
    if s < 60:
        return "under a minute left"
    m = round(s / 60)
    return f"about {m} min left" if m < 60 else f"about {m // 60} h {m % 60:02d} min left"


class _InfoColumn(ProgressColumn):
    """A row's note: a model's loss and validation NDCG, or the overall bar's time left."""

    max_refresh = 1.0

    def render(self, task: Task) -> Text:
        eta = task.fields.get("eta")
        if eta is not None:
            t0, n, last = eta
            left = int((task.total or 0) - task.completed)
            return Text(time_left(t0, n, last, left, time.monotonic()), style="cyan")
        return Text(str(task.fields.get("info", "")), style="dim")


@contextmanager
def progress_bar(quiet: bool = False, console: Console | None = None) -> Iterator[Bars | None]:
    """Yield a :class:`Bars` drawing Rich bars on stderr (``None`` when ``quiet`` or not a terminal).

    The bars are transient: a finished row is hidden at once, and all are gone when the work is done.
    ``console``: draw there instead (tests).
    """
    con = console or err_console
    if quiet or (console is None and not sys.stderr.isatty()):
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), _InfoColumn(),
        console=con, transient=True,
    ) as prog:
        yield Bars(prog)


# ----------------------------------------------------------------------------------------- numbers

SECONDS, METRIC, WEIGHT, RATING, PLAIN = "seconds", "metric", "weight", "rating", "plain"

_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (PLAIN, re.compile(r"(^|[_\s.])(ts|timestamp|id|year|port|seed|pos)$", re.IGNORECASE)),
    (SECONDS, re.compile(r"(^|[_\s.])(sec|secs|seconds|time)(?![a-z])|[_\s.]s$|\(s\)$", re.IGNORECASE)),
    (RATING, re.compile(r"rating", re.IGNORECASE)),
    (WEIGHT, re.compile(r"attention|cosine|similarity|score|weight", re.IGNORECASE)),
    (METRIC, re.compile(r"(^|[_\s.])(hr|ndcg|mrr|recall|precision|map|auc|nmi)(@\d+)?(?![a-z])|loss", re.IGNORECASE)),
)


def kind_of(name: str) -> str | None:
    """The kind of number a column (or row) called ``name`` holds, from its name; None: not known."""
    n = str(name).strip()
    for kind, pat in _KIND_PATTERNS:
        if pat.search(n):
            return kind
    return None


def fmt_seconds(v: float) -> str:
    """``77.9 s``."""
    return f"{v:.1f} s"


def fmt_metric(v: float) -> str:
    """A ranking metric or a loss: 4 places (``0.1234``)."""
    return f"{v:.4f}"


def fmt_weight(v: float) -> str:
    """An attention weight, a cosine, a score: 3 places (``0.158``)."""
    return f"{v:.3f}"


def fmt_rating(v: float) -> str:
    """A rating without trailing zeros: ``2``, ``4.5``."""
    return f"{round(float(v), 2):g}"


def fmt_float(v: float) -> str:
    """A float of unknown meaning: up to 4 places, no trailing zeros (``2``, ``0.1235``, ``1,234.5``)."""
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.3g}"
    s = f"{v:,.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def fmt(v: Any, kind: str | None = None) -> str:
    """``v`` as a person reads it; ``kind`` (see :func:`kind_of`) says what a number means."""
    if _is_np_scalar(v):
        v = v.item()
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if kind == PLAIN else f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a" if math.isnan(v) else ("∞" if v > 0 else "-∞")
        return {SECONDS: fmt_seconds, METRIC: fmt_metric, WEIGHT: fmt_weight, RATING: fmt_rating}.get(
            kind or "", fmt_float
        )(v)
    if isinstance(v, str) and kind == WEIGHT and v.startswith("{"):
        try:  # persona_attention is stored as JSON text: {"U-I": 0.158…}
            parsed = json.loads(v)
        except ValueError:
            return v
        if isinstance(parsed, dict):
            return _compact(parsed, kind)
    if isinstance(v, (list, tuple, dict)) or _is_np_array(v):
        return _compact(v.tolist() if _is_np_array(v) else v, kind)
    return str(v)


def _compact(v: Any, kind: str | None, limit: int = 60) -> str:
    """A list or mapping on one line, numbers rounded; a long one is cut between entries, with its length."""
    num = fmt_weight if kind in (None, WEIGHT) else (lambda x: fmt(x, kind))

    def one(x: Any) -> str:
        if _is_np_scalar(x):
            x = x.item()
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, float):
            return num(x) if math.isfinite(x) else "null"
        if isinstance(x, (list, tuple, dict)):
            return _compact(x, kind, limit)
        return json.dumps(x, default=str, ensure_ascii=False)

    if isinstance(v, dict):
        parts = [f"{json.dumps(str(k), ensure_ascii=False)}: {one(x)}" for k, x in v.items()]
        opening, closing, what = "{", "}", "entries"
    else:
        parts = [one(x) for x in v]
        opening, closing, what = "[", "]", "values"
    whole = opening + ", ".join(parts) + closing
    if len(whole) <= limit:
        return whole
    more = f", … ({len(parts)} {what}){closing}"
    kept: list[str] = []
    for p in parts:
        if len(opening) + len(", ".join([*kept, p])) + len(more) > limit and kept:
            break
        kept.append(p)
    return opening + ", ".join(kept) + more


def _is_np_scalar(v: Any) -> bool:
    return type(v).__module__ == "numpy" and getattr(v, "ndim", None) == 0


def _is_np_array(v: Any) -> bool:
    return type(v).__name__ == "ndarray" and type(v).__module__ == "numpy"


# ----------------------------------------------------------------------------------------- tables

Kinds = Mapping[str, str | None] | str | None


def format_rows(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], kinds: Kinds = None, *, by_row: str | None = None
) -> list[list[str]]:
    """The cells of ``rows`` as strings (see :func:`fmt`).

    ``kinds``: one kind for every value, or column → kind; columns not named take their kind from their
    name. ``by_row``: the column whose value names the row's kind instead (``{name: value}`` tables).
    """
    out = []
    for r in rows:
        cells = []
        for c in columns:
            kind: str | None
            if isinstance(kinds, str):
                kind = kinds
            elif kinds is not None and c in kinds:
                kind = kinds[c]
            elif by_row is not None and c != by_row:
                kind = kind_of(str(r.get(by_row, "")))
            else:
                kind = kind_of(c)
            cells.append(fmt(r.get(c), kind))
        out.append(cells)
    return out


def _numeric(v: Any) -> bool:
    if _is_np_scalar(v):
        v = v.item()
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def table(
    title: str | None,
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    columns: Sequence[str] | None = None,
    *,
    kinds: Kinds = None,
    caption: str | None = None,
    names: tuple[str, str] = ("name", "value"),
    section_by: str | None = None,
    right: Sequence[str] = (),
) -> RenderableType:
    """A Rich table from a list of dicts (or one ``{name: value}`` mapping as two columns).

    The title (and the caption) are printed as their own lines above (below) the table, wrapped at spaces
    to the terminal rather than squeezed into the table's width; long cells fold instead of being cut.
    A ``{name: value}`` mapping becomes two columns headed ``names``; each value's kind comes from its name
    unless ``kinds`` says otherwise. ``section_by``: a line between rows whose value in that column
    differs. ``right``: text columns to right-align (numbers the caller formatted).
    """
    by_row = None
    if isinstance(rows, Mapping):
        rows = [{names[0]: k, names[1]: v} for k, v in rows.items()]
        by_row = names[0]
    columns = list(columns or (list(rows[0].keys()) if rows else []))
    cells = format_rows(rows, columns, kinds, by_row=by_row)
    t = Table(title_justify="left")
    numeric = [_numeric(next((r.get(c) for r in rows if r.get(c) is not None), None)) for c in columns]
    # text wraps at spaces; a word (an id, a path) is folded only when the table cannot fit it whole
    words = [
        max((len(w) for x in [str(c), *(row[i] for row in cells)] for w in x.split()), default=1)
        for i, c in enumerate(columns)
    ]
    numbers = [max((len(x) for x in [str(c), *(row[i] for row in cells)]), default=1) for i, c in enumerate(columns)]
    need = sum(n if num else w for n, w, num in zip(numbers, words, numeric)) + 3 * len(columns) + 1
    keep_words = need <= console.width
    for i, c in enumerate(columns):
        if numeric[i]:
            t.add_column(str(c), justify="right", no_wrap=True)
        elif c in right:  # numbers formatted by the caller ("0.1234\n± 0.0100")
            t.add_column(str(c), justify="right", overflow="fold")
        else:
            t.add_column(str(c), justify="left", overflow="fold", min_width=min(words[i], 40) if keep_words else None)
    previous = None
    for r, row in zip(rows, cells):
        if section_by is not None and previous is not None and r.get(section_by) != previous:
            t.add_section()
        previous = r.get(section_by) if section_by is not None else None
        t.add_row(*[Text(x) for x in row])  # values are data, never markup
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="table.title"))
    parts.append(t)
    if caption:
        parts.append(Text(caption, style="table.caption"))
    return Group(*parts) if len(parts) > 1 else t
