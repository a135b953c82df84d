"""GroupLens MovieLens 100K (``u.data``, ``u.item``, ``u.user``, ``u.genre``) → graph frames.

Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 2015.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import pandas as pd

from persona.kgstore.frames import GraphFrames

from ._common import PathArg, attach_rdf, check_endpoints, restrict_links
from ._io import iter_lines, parse_float, parse_int, split_fields
from ._recbole import read_link
from ._text import movielens_title
from ._values import (
    AGE_MAX,
    AGE_MIN,
    HOPS,
    K_CORE,
    RATING_MAX,
    RATING_MIN,
    TS_MAX,
    TS_MIN,
    Limits,
    check_reader_args,
    in_range,
)
from .errors import InputError, RecordPolicy, show
from .sequences import finish_interactions

#: The 19 genre flags of ``u.item``, in column order (used when ``u.genre`` is absent).
ML_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def read_movielens(
    dir: str | PathLike[str],
    *,
    link: str | PathLike[str] | None = None,
    rdf: PathArg | Sequence[PathArg] = (),
    hops: int = HOPS,
    k_core: int = K_CORE,
    skip_invalid: bool = False,
    rejects: str | PathLike[str] | None = None,
    rating_min: float = RATING_MIN,
    rating_max: float = RATING_MAX,
    ts_min: int = TS_MIN,
    ts_max: int = TS_MAX,
) -> GraphFrames:
    """Read MovieLens 100K into users, items, genres and RATED edges (plus DBpedia knowledge).

    * ``User``: id = user id; ``age``, ``gender`` (``M``/``F``), ``occupation`` from ``u.user``.
    * ``Item``: id = ML item id, ``domain="movie"``; ``title`` is the MovieLens title without the
      trailing ``(YYYY)`` and with a trailing article moved to the front (``Usual Suspects, The (1995)``
      → ``The Usual Suspects``); ``year`` from the title, else from the release date; ``iri`` from
      ``link``.
    * ``Genre`` (id = genre name, e.g. ``Sci-Fi``) and ``HAS_GENRE`` from the 19 flags of ``u.item``.
    * ``RATED``: ``rating``, ``ts``, ``pos``, ``split`` (see :mod:`.sequences`).

    Only users and items with interactions (after ``k_core``) become nodes.

    Args:
        dir: Folder with ``u.data``, ``u.item`` (latin-1 as distributed; a UTF-8 copy is recognised)
            and ``u.user``; ``u.genre`` is optional.
        link: RecBole ``.link`` file mapping item ids to DBpedia IRIs (sets ``Item.iri``).
        rdf: RDF files with knowledge about the linked items (see :func:`persona.ingest.read_rdf`).
        hops: How far RDF triples are followed from the linked items.
        k_core: Keep users and items with at least this many interactions (0 = all).
        skip_invalid: Skip bad records (counted in ``stats["skipped"]``) instead of raising.
        rejects: JSON-lines file receiving the skipped records.
        rating_min: Lowest accepted rating (ML-100K: 1–5); a rating outside ``[rating_min, rating_max]``
            or not finite is a bad record.
        rating_max: Highest accepted rating.
        ts_min: Earliest accepted timestamp (Unix seconds, default 0 = 1970-01-01).
        ts_max: Latest accepted timestamp (default 4102444800 = 2100-01-01).

    Returns:
        Complete frames; ``stats``: ``source``, ``records`` (lines of ``u.data``), ``duplicates``,
        ``duplicate_rows`` (repeated identical ``u.item``/``u.user`` rows), ``k_core``,
        ``k_core_removed``, ``skipped``, ``links`` (link rows), plus the RDF keys of
        :func:`persona.ingest.rdf.frames_from_index` when ``rdf`` is given.

    Raises:
        InputError: a missing, empty or malformed file (names file, line, what was expected), or a
            ``k_core`` that leaves no interaction.
        ValueError: ``rdf`` given without any linked item (no ``link``, or no linked item rated); a
            negative ``k_core``, ``hops`` below 1, or an empty rating / time range.
    """
    check_reader_args(
        k_core=k_core, hops=hops, rating_min=rating_min, rating_max=rating_max, ts_min=ts_min, ts_max=ts_max
    )
    limits = Limits(rating_min, rating_max, ts_min, ts_max)
    base = Path(dir)
    if not base.is_dir():
        got = "a file" if base.exists() else "no such file or folder"
        raise InputError(base, None, "a folder with u.data, u.item and u.user", got, hint="check the path")
    policy = RecordPolicy(skip_invalid, rejects)
    stats: dict[str, object] = {"source": "movielens", "duplicate_rows": 0}
    genres = _read_genres(base / "u.genre", policy)
    items = _read_items(base / "u.item", genres, policy, stats)
    users = _read_users(base / "u.user", policy, stats)
    ratings = _read_ratings(base / "u.data", set(items.index), set(users.index), policy, stats, limits)
    rated = finish_interactions(ratings, k_core, stats, source=base / "u.data")

    gf = GraphFrames(stats=stats)
    user_ids = sorted(pd.unique(rated["src"]), key=_numeric_first)
    item_ids = pd.unique(rated["dst"])
    u = users.loc[user_ids]
    gf.add_nodes(
        "User",
        pd.DataFrame(
            {
                "id": u.index.to_numpy(),
                "age": pd.array(u["age"], dtype="Int64"),
                "gender": u["gender"].to_numpy(),
                "occupation": u["occupation"].to_numpy(),
            }
        ),
    )
    links: dict[str, str] = {}
    if link is not None:
        links = read_link(link, policy)
        stats["links"] = len(links)
    item_ids_sorted = sorted(item_ids, key=_numeric_first)
    links = restrict_links(links, item_ids_sorted)
    it = items.loc[item_ids_sorted]
    gf.add_nodes(
        "Item",
        pd.DataFrame(
            {
                "id": it.index.to_numpy(),
                "title": it["title"].to_numpy(),
                "year": pd.array(it["year"], dtype="Int64"),
                "domain": "movie",
                "iri": [links.get(i) for i in it.index],
            }
        ),
    )
    pairs = [(i, g) for i, gs in zip(it.index, it["genres"]) for g in gs]
    used = sorted({g for _, g in pairs}, key=genres.index)
    gf.add_nodes("Genre", pd.DataFrame({"id": used, "name": used}))
    gf.add_rels("HAS_GENRE", "Item", "Genre", pd.DataFrame(pairs, columns=["src", "dst"]))
    gf.add_rels("RATED", "User", "Item", rated)
    attach_rdf(gf, rdf, links, hops, policy)
    policy.finish(gf.stats)
    check_endpoints(gf)
    return gf


def _numeric_first(s: str) -> tuple[int, int | str]:
    return (0, int(s)) if s.isdigit() else (1, s)


def _read_genres(path: Path, policy: RecordPolicy) -> list[str]:
    if not path.exists():
        return list(ML_GENRES)
    out: dict[int, str] = {}
    names: dict[str, int] = {}
    for n, text in iter_lines(path, policy, expected="genre lines (name|index)"):
        f = split_fields(path, n, text, "|", 2, "name, index", policy)
        if f is None:
            continue
        name = f[0].strip()
        if not name:
            policy.bad(InputError(path, n, "a genre name in the first field", "an empty field"), text)
            continue
        idx = parse_int(path, n, f[1], "genre index", policy, text)
        if idx is None:
            continue
        if idx in out or name in names:
            if out.get(idx) == name:  # the same line twice
                continue
            dup = (
                f"index {idx} (already {out[idx]!r})"
                if idx in out
                else f"name {name!r} (already index {names[name]})"
            )
            policy.bad(InputError(path, n, "one line per genre name and per index", f"a second {dup}"), text)
            continue
        out[idx] = name
        names[name] = idx
    if not out:
        raise InputError(path, None, "genre lines (name|index)", "no valid line")
    if sorted(out) != list(range(len(out))):
        shown = sorted(out)
        listed = ", ".join(map(str, shown[:10])) + (", …" if len(shown) > 10 else "")
        raise InputError(path, None, f"genre indexes 0..{len(out) - 1}", f"indexes {listed}")
    return [out[i] for i in range(len(out))]


def _read_items(path: Path, genres: list[str], policy: RecordPolicy, stats: dict) -> pd.DataFrame:
    ng = len(genres)
    width = 5 + ng
    rows: dict[str, tuple] = {}
    for n, text in iter_lines(
        path,
        policy,
        expected="movie lines (id|title|date|video date|url|genre flags)",
        encoding=_item_encoding(path),
    ):
        f = split_fields(
            path, n, text, "|", width, f"id, title, release date, video date, URL, {ng} genre flags", policy
        )
        if f is None:
            continue
        item = f[0].strip()
        if not item:
            policy.bad(InputError(path, n, "a movie id in the first field", "an empty field"), text)
            continue
        flags = f[5:]
        if any(x not in ("0", "1") for x in flags):
            bad = next(x for x in flags if x not in ("0", "1"))
            policy.bad(InputError(path, n, f"{ng} genre flags of 0 or 1", show(bad)), text)
            continue
        title, year = movielens_title(f[1])
        date = f[2].strip()
        date_year = _year_from_date(date)
        if date and date_year is None:
            policy.bad(
                InputError(path, n, "a release date like 01-Jan-1995 (or an empty field)", show(f[2])), text
            )
            continue
        if year is None:
            year = date_year
        row = (title, year, tuple(g for g, x in zip(genres, flags) if x == "1"))
        old = rows.get(item)
        if old is not None:
            if old != row:
                policy.bad(
                    InputError(
                        path,
                        n,
                        f"one row per movie id (id {item!r} is already on an earlier line)",
                        "a second, different row",
                    ),
                    text,
                )
            else:
                stats["duplicate_rows"] += 1
            continue
        rows[item] = row
    df = pd.DataFrame.from_dict(rows, orient="index", columns=["title", "year", "genres"])
    return df


def _item_encoding(path: Path) -> str:
    """``latin-1`` (the GroupLens original), or ``utf-8`` for a re-encoded copy (which would otherwise
    turn ``Café`` into ``CafÃ©``): a file with non-ASCII bytes that is valid UTF-8 is taken as UTF-8."""
    try:
        data = path.read_bytes()
    except OSError:
        return "latin-1"  # iter_lines reports the missing / unreadable file
    if data.isascii():
        return "latin-1"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _year_from_date(date: str) -> int | None:
    """The year of ``01-Jan-1995`` (day 1 or 2 digits, 4-digit year), else None."""
    parts = date.strip().split("-")
    if (
        len(parts) == 3
        and parts[1] in _MONTHS
        and 1 <= len(parts[0]) <= 2
        and len(parts[2]) == 4
        and (parts[0] + parts[2]).isascii()
        and (parts[0] + parts[2]).isdigit()
        and 1 <= int(parts[0]) <= 31
    ):
        return int(parts[2])
    return None


def _read_users(path: Path, policy: RecordPolicy, stats: dict) -> pd.DataFrame:
    rows: dict[str, tuple] = {}
    for n, text in iter_lines(path, policy, expected="user lines (id|age|gender|occupation|zip)"):
        f = split_fields(path, n, text, "|", 5, "id, age, gender, occupation, zip code", policy)
        if f is None:
            continue
        user = f[0].strip()
        if not user:
            policy.bad(InputError(path, n, "a user id in the first field", "an empty field"), text)
            continue
        age = parse_int(path, n, f[1], "age (2nd field)", policy, text)
        if age is None or not in_range(path, n, age, AGE_MIN, AGE_MAX, "an age (2nd field)", policy, text):
            continue
        row = (age, f[2].strip(), f[3].strip())
        old = rows.get(user)
        if old is not None:
            if old != row:
                policy.bad(
                    InputError(
                        path,
                        n,
                        f"one row per user id (id {user!r} is already on an earlier line)",
                        "a second, different row",
                    ),
                    text,
                )
            else:
                stats["duplicate_rows"] += 1
            continue
        rows[user] = row
    return pd.DataFrame.from_dict(rows, orient="index", columns=["age", "gender", "occupation"])


def _read_ratings(
    path: Path, items: set[str], users: set[str], policy: RecordPolicy, stats: dict, limits: Limits
) -> pd.DataFrame:
    src: list[str] = []
    dst: list[str] = []
    rating: list[float] = []
    ts: list[int] = []
    order: list[int] = []
    records = 0
    describe = "user, item, rating, timestamp"
    for n, text in iter_lines(path, policy, expected="tab-separated ratings (user, item, rating, timestamp)"):
        records += 1
        f = text.split("\t")
        if len(f) != 4:
            policy.bad(InputError(path, n, f"4 tab-separated fields ({describe})", f"{len(f)}"), text)
            continue
        u, i, r, t = f
        rv = parse_float(path, n, r, "the rating (3rd field)", policy, text)
        if rv is None or not limits.rating_ok(path, n, rv, "the rating (3rd field)", policy, text, r):
            continue
        tv = parse_int(path, n, t, "unix timestamp (4th field)", policy, text)
        if tv is None or not limits.ts_ok(path, n, tv, "the timestamp (4th field)", policy, text):
            continue
        if u not in users:
            policy.bad(InputError(path, n, "a user id listed in u.user", show(u)), text)
            continue
        if i not in items:
            policy.bad(InputError(path, n, "an item id listed in u.item", show(i)), text)
            continue
        src.append(u)
        dst.append(i)
        rating.append(rv)
        ts.append(tv)
        order.append(n)
    stats["records"] = records
    return pd.DataFrame({"src": src, "dst": dst, "rating": rating, "ts": ts, "order": order})
