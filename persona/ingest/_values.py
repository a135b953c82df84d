"""Plausibility checks for values a parser reads: ratings, timestamps, years, ages; reader arguments.

Numbers are parsed by :func:`persona.ingest._io.parse_int` / ``parse_float`` (which refuse anything that
is not a finite number or does not fit in 64 bits); the functions here check that a parsed value is
plausible and report a bad record to the :class:`~persona.ingest.errors.RecordPolicy` otherwise.

Defaults (the same numbers as :class:`persona.config.IngestSettings`):

* ratings: finite and within ``[RATING_MIN, RATING_MAX]`` = ``[0, 10]``. ML-100K and Amazon 2018
  ``overall`` are 1–5, Amazon-KG ``.inter`` ratings are all 1 (implicit feedback); 0–10 also admits
  ten-point scales. Other scales: set ``[ingest] rating_min`` / ``rating_max``.
* timestamps: Unix seconds within ``[TS_MIN, TS_MAX]`` = 1970-01-01 … 2100-01-01. A negative time or
  one far in the future would become a user's first or (worse) last interaction, i.e. the test item of
  the leave-one-out split. Millisecond timestamps (13 digits) fall outside and are named as such.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

from persona.config import IngestSettings
from persona.errors import ConfigError

from .errors import InputError, RecordPolicy, show

# The readers' defaults are the [ingest] settings' (persona.config.IngestSettings: one definition).
_DEFAULTS = IngestSettings()
RATING_MIN = _DEFAULTS.rating_min
RATING_MAX = _DEFAULTS.rating_max
TS_MIN = _DEFAULTS.ts_min  # 1970-01-01T00:00:00Z
TS_MAX = _DEFAULTS.ts_max  # 2100-01-01T00:00:00Z
HOPS = _DEFAULTS.hops
K_CORE = _DEFAULTS.k_core
SPARQL_ENDPOINT = _DEFAULTS.sparql_endpoint
DEMO_USERS = _DEFAULTS.demo_users
DEMO_ITEMS = _DEFAULTS.demo_items
AGE_MIN, AGE_MAX = 0, 150
YEAR_MIN, YEAR_MAX = -9999, 9999

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_RANGE_HINT = "the accepted range is the [ingest] {names} setting of the config file"


def fmt_number(x: float) -> str:
    """``5.0`` → ``5``, ``2.5`` → ``2.5`` (for messages)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def day(ts: int) -> str:
    """``YYYY-MM-DD`` (UTC) of a Unix time, or a description when it is beyond the calendar."""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "after the year 9999" if ts > 0 else "before the year 1"


def check_reader_args(
    *,
    k_core: int = K_CORE,
    hops: int = HOPS,
    rating_min: float = RATING_MIN,
    rating_max: float = RATING_MAX,
    ts_min: int = TS_MIN,
    ts_max: int = TS_MAX,
) -> None:
    """Validate the numeric arguments of a reader before anything is read.

    Raises:
        ValueError: negative ``k_core``, ``hops`` below 1, or an empty / non-finite rating or time range.
    """
    if isinstance(k_core, bool) or not isinstance(k_core, int) or k_core < 0:
        raise ConfigError(
            f"k-core must be 0 (off) or a positive number of interactions (--k-core), got {k_core!r}"
        )
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
        raise ConfigError(f"hops must be at least 1 (--hops), got {hops!r}")
    for name, v in (("rating_min", rating_min), ("rating_max", rating_max)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"[ingest] {name} must be a finite number, got {v!r}")
    if rating_min > rating_max:
        raise ConfigError(f"[ingest] rating_min ({rating_min}) must not exceed rating_max ({rating_max})")
    for name, v in (("ts_min", ts_min), ("ts_max", ts_max)):
        if isinstance(v, bool) or not isinstance(v, int) or not INT64_MIN <= v <= INT64_MAX:
            raise ConfigError(f"[ingest] {name} must be an integer Unix time in seconds, got {v!r}")
    if ts_min > ts_max:
        raise ConfigError(f"[ingest] ts_min ({ts_min}) must not exceed ts_max ({ts_max})")


class Limits:
    """The accepted rating and timestamp ranges of one reader call, with the checks that use them."""

    __slots__ = ("rating_max", "rating_min", "ts_max", "ts_min")

    def __init__(
        self,
        rating_min: float = RATING_MIN,
        rating_max: float = RATING_MAX,
        ts_min: int = TS_MIN,
        ts_max: int = TS_MAX,
    ) -> None:
        self.rating_min = float(rating_min)
        self.rating_max = float(rating_max)
        self.ts_min = ts_min
        self.ts_max = ts_max

    def rating_ok(
        self, path: Path, n: int, value: float, what: str, policy: RecordPolicy, raw: str, shown: str
    ) -> bool:
        """True if ``value`` is a finite rating in range; otherwise a bad record (``shown`` = the input)."""
        if math.isfinite(value) and self.rating_min <= value <= self.rating_max:
            return True
        lo, hi = fmt_number(self.rating_min), fmt_number(self.rating_max)
        policy.bad(
            InputError(
                path,
                n,
                f"a finite rating between {lo} and {hi} for {what}",
                show(shown),
                hint=_RANGE_HINT.format(names="rating_min / rating_max"),
            ),
            raw,
        )
        return False

    def ts_ok(self, path: Path, n: int, value: int, what: str, policy: RecordPolicy, raw: str) -> bool:
        """True if ``value`` is a Unix time (seconds) in range; otherwise a bad record."""
        if self.ts_min <= value <= self.ts_max:
            return True
        got = f"{value} ({day(value)})"
        if value >= 10**12 and self.ts_min <= value // 1000 <= self.ts_max:  # 13 digits: 2001 on in ms
            got += f", which looks like milliseconds: {value // 1000} in seconds"
        policy.bad(
            InputError(
                path,
                n,
                f"a Unix time in seconds between {self.ts_min} ({day(self.ts_min)}) and {self.ts_max} "
                f"({day(self.ts_max)}) for {what}",
                got,
                hint=_RANGE_HINT.format(names="ts_min / ts_max"),
            ),
            raw,
        )
        return False


def in_range(
    path: Path, n: int, value: int, lo: int, hi: int, what: str, policy: RecordPolicy, raw: str
) -> bool:
    """True if ``lo <= value <= hi``; otherwise a bad record ("an age between 0 and 150")."""
    if lo <= value <= hi:
        return True
    policy.bad(InputError(path, n, f"{what} between {lo} and {hi}", str(value)), raw)
    return False
