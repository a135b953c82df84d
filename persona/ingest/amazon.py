"""Amazon Review Data 2018 (reviews + metadata JSON lines) → graph frames.

Ni, Li & McAuley, "Justifying Recommendations using Distantly-Labeled Reviews and Fine-Grained
Aspects", EMNLP 2019.

Why one long module: reviews and metadata are read by one reader and share its record checks (JSON
lines, text validity, value ranges), so each error names the file, the line and what was expected.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from persona.kgstore.frames import GraphFrames

from ._common import PathArg, attach_rdf, check_endpoints, restrict_links
from ._io import iter_lines
from ._recbole import read_link
from ._text import clean_html, guess_domain, has_words, snippet
from ._values import (
    HOPS,
    INT64_MAX,
    INT64_MIN,
    K_CORE,
    RATING_MAX,
    RATING_MIN,
    TS_MAX,
    TS_MIN,
    Limits,
    check_reader_args,
)
from .errors import InputError, RecordPolicy, show
from .sequences import finish_interactions

_REVIEW_FIELDS = "reviewerID, asin, overall and unixReviewTime"
_META_USED = ("title", "description", "brand", "category", "also_buy", "also_view", "main_cat")


def read_amazon(
    reviews: str | PathLike[str],
    meta: str | PathLike[str] | None,
    *,
    rdf: PathArg | Sequence[PathArg] = (),
    link: str | PathLike[str] | None = None,
    hops: int = HOPS,
    k_core: int = K_CORE,
    skip_invalid: bool = False,
    rejects: str | PathLike[str] | None = None,
    domain: str | None = None,
    rating_min: float = RATING_MIN,
    rating_max: float = RATING_MAX,
    ts_min: int = TS_MIN,
    ts_max: int = TS_MAX,
) -> GraphFrames:
    """Read an Amazon 2018 category (``*_5.json.gz`` reviews and ``meta_*.json.gz``) into frames.

    * ``User`` id = ``reviewerID``; ``Item`` id = ``asin``; ``RATED`` from ``overall`` and
      ``unixReviewTime`` (ties in time keep the file order).
    * Metadata rows are kept only for reviewed items (after ``k_core``). Repeated identical rows are
      counted in ``stats["meta_duplicates"]``; a repeated asin with different content is a bad record.
    * ``Item.title``: the metadata title with HTML tags stripped and entities unescaped. Titles that
      clean to nothing (the cut-off ``<span class="a-size-medium…`` markup of the Magazine category) fall
      back to the first sentence of the description (at most 80 characters), then to the asin; counted
      in ``stats["titles_from_description"]`` and ``stats["titles_from_asin"]``.
    * ``Item.description``: the description parts, cleaned, joined by spaces; ``Item.categories``: the
      cleaned category path.
    * ``Brand`` (id = cleaned brand name) + ``HAS_BRAND``; every level of the category path becomes a
      ``Category`` (id = its name) + ``IN_CATEGORY``.
    * ``ALSO_BUY`` / ``ALSO_VIEW`` join two items of the frame only: targets that are not reviewed items
      would be nodes without interactions or text, so they are dropped and counted in
      ``stats["also_buy_outside"]`` / ``stats["also_view_outside"]``.

    Args:
        reviews: Reviews JSON lines (plain or ``.gz``).
        meta: Metadata JSON lines (plain or ``.gz``), or None (titles are then the asins).
        rdf: RDF files about the linked items (see :func:`persona.ingest.read_rdf`).
        link: RecBole ``.link`` file: asin → DBpedia IRI (sets ``Item.iri``).
        hops: How far RDF triples are followed.
        k_core: Keep users and items with at least this many reviews (0 = all).
        skip_invalid: Skip bad records (counted in ``stats["skipped"]``) instead of raising.
        rejects: JSON-lines file receiving the skipped records.
        domain: ``Item.domain``; default guessed from the metadata ``main_cat`` or the file name
            (``Magazine Subscriptions`` → ``magazine``, otherwise ``product``).
        rating_min: Lowest accepted ``overall`` (Amazon: 1–5); outside the range or not finite is a
            bad record.
        rating_max: Highest accepted ``overall``.
        ts_min: Earliest accepted ``unixReviewTime`` (Unix seconds, default 0 = 1970-01-01).
        ts_max: Latest accepted ``unixReviewTime`` (default 4102444800 = 2100-01-01).

    Returns:
        Complete frames; ``stats``: ``source``, ``records`` (review lines), ``duplicates``,
        ``k_core``, ``k_core_removed``, ``meta_rows`` (metadata lines), ``meta_duplicates`` (repeated
        identical rows of kept items), ``meta_missing`` (reviewed items without metadata),
        ``titles_from_description``, ``titles_from_asin``, ``also_buy_outside``, ``also_view_outside``,
        ``links``, ``skipped``, and the RDF keys.

    Raises:
        InputError: missing/empty/truncated file, a line that is not a JSON object, a missing field, a
            non-numeric or out-of-range rating or timestamp, a metadata field of the wrong type,
            conflicting metadata rows; a ``k_core`` that leaves no review.
        ValueError: ``rdf`` given without any linked item; a negative ``k_core``, ``hops`` below 1, or
            an empty rating / time range.
    """
    check_reader_args(
        k_core=k_core, hops=hops, rating_min=rating_min, rating_max=rating_max, ts_min=ts_min, ts_max=ts_max
    )
    limits = Limits(rating_min, rating_max, ts_min, ts_max)
    policy = RecordPolicy(skip_invalid, rejects)
    stats: dict[str, Any] = {"source": "amazon"}
    interactions = _read_reviews(Path(reviews), policy, stats, limits)
    rated = finish_interactions(interactions, k_core, stats, source=reviews)
    item_ids = sorted(pd.unique(rated["dst"]))
    user_ids = sorted(pd.unique(rated["src"]))
    metas = _read_meta(Path(meta), set(item_ids), policy, stats) if meta is not None else {}
    if meta is None:
        stats["meta_rows"] = 0
        stats["meta_duplicates"] = 0
    stats["meta_missing"] = sum(1 for i in item_ids if i not in metas)

    if domain is None:
        main = Counter(m["main_cat"] for m in metas.values() if isinstance(m.get("main_cat"), str))
        name = main.most_common(1)[0][0] if main else Path(reviews).name
        domain = guess_domain(name)

    links: dict[str, str] = {}
    if link is not None:
        links = read_link(link, policy)
        stats["links"] = len(links)
    links = restrict_links(links, item_ids)

    item_set = set(item_ids)
    rows: list[tuple[str, str, str | None, str, list[str], str | None]] = []
    brand_rel: list[tuple[str, str]] = []
    cat_rel: list[tuple[str, str]] = []
    also: dict[str, list[tuple[str, str]]] = {"also_buy": [], "also_view": []}
    outside = {"also_buy": 0, "also_view": 0}
    from_desc = from_asin = 0
    for asin in item_ids:
        m = metas.get(asin, {})
        desc = _description(m.get("description"))
        title = clean_html(m["title"]) if isinstance(m.get("title"), str) else ""
        if not has_words(title):
            if desc:
                title = snippet(desc)
                from_desc += 1
            else:
                title = asin
                from_asin += 1
        cats = [clean_html(c) for c in m.get("category") or [] if isinstance(c, str)]
        cats = [c for c in dict.fromkeys(cats) if c]
        rows.append((asin, title, desc or None, domain, cats, links.get(asin)))
        brand = clean_html(m["brand"]) if isinstance(m.get("brand"), str) else ""
        if has_words(brand):
            brand_rel.append((asin, brand))
        cat_rel.extend((asin, c) for c in cats)
        for key, pairs in also.items():
            targets = m.get(key)
            if not isinstance(targets, list):
                continue
            for t in targets:
                if isinstance(t, str) and t in item_set and t != asin:
                    pairs.append((asin, t))
                else:
                    outside[key] += 1
    stats["titles_from_description"] = from_desc
    stats["titles_from_asin"] = from_asin
    stats["also_buy_outside"] = outside["also_buy"]
    stats["also_view_outside"] = outside["also_view"]

    gf = GraphFrames(stats=stats)
    gf.add_nodes("User", pd.DataFrame({"id": user_ids}))
    gf.add_nodes(
        "Item",
        pd.DataFrame(rows, columns=["id", "title", "description", "domain", "categories", "iri"]),
    )
    brands = sorted({b for _, b in brand_rel})
    gf.add_nodes("Brand", pd.DataFrame({"id": brands, "name": brands}))
    gf.add_rels("HAS_BRAND", "Item", "Brand", pd.DataFrame(brand_rel, columns=["src", "dst"]))
    categories = sorted({c for _, c in cat_rel})
    gf.add_nodes("Category", pd.DataFrame({"id": categories, "name": categories}))
    gf.add_rels("IN_CATEGORY", "Item", "Category", pd.DataFrame(cat_rel, columns=["src", "dst"]))
    gf.add_rels("ALSO_BUY", "Item", "Item", pd.DataFrame(also["also_buy"], columns=["src", "dst"]))
    gf.add_rels("ALSO_VIEW", "Item", "Item", pd.DataFrame(also["also_view"], columns=["src", "dst"]))
    gf.add_rels("RATED", "User", "Item", rated)
    attach_rdf(gf, rdf, links, hops, policy)
    policy.finish(gf.stats)
    check_endpoints(gf)
    return gf


def _description(value: object) -> str:
    parts = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    cleaned = [clean_html(p) for p in parts if isinstance(p, str)]
    return " ".join(p for p in cleaned if p)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_JSON_TYPES = {"dict": "object", "list": "array", "str": "string", "int": "number", "float": "number",
               "bool": "boolean", "NoneType": "null"}  # fmt: skip


def _json_type(v: object) -> str:
    return _JSON_TYPES.get(type(v).__name__, type(v).__name__)


def _json_object(path: Path, n: int, text: str, policy: RecordPolicy) -> dict | None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        policy.bad(
            InputError(path, n, "one JSON object per line", f"invalid JSON ({e.msg} at column {e.colno})"),
            text,
        )
        return None
    except RecursionError:
        policy.bad(InputError(path, n, "one JSON object per line", "JSON nested too deeply"), text)
        return None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        policy.bad(InputError(path, n, "one JSON object per line", f"invalid JSON ({e})"), text)
        return None
    if not isinstance(obj, dict):
        policy.bad(InputError(path, n, "one JSON object per line", f"a JSON {type(obj).__name__}"), text)
        return None
    if _SURROGATE_ESCAPE.search(text):  # json.loads joins surrogate pairs; a lone one is not text
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            policy.bad(
                InputError(
                    path, n, "JSON strings of valid Unicode", "a lone surrogate escape (\\uD800–\\uDFFF)"
                ),
                text,
            )
            return None
    return obj


def _read_reviews(path: Path, policy: RecordPolicy, stats: dict, limits: Limits) -> pd.DataFrame:
    src: list[str] = []
    dst: list[str] = []
    rating: list[float] = []
    ts: list[int] = []
    order: list[int] = []
    records = 0
    for n, text in iter_lines(path, policy, expected=f"review JSON lines ({_REVIEW_FIELDS})"):
        records += 1
        obj = _json_object(path, n, text, policy)
        if obj is None:
            continue
        missing = [k for k in ("reviewerID", "asin", "overall", "unixReviewTime") if k not in obj]
        if missing:
            policy.bad(InputError(path, n, f"a review with {_REVIEW_FIELDS}", f"no {missing[0]!r}"), text)
            continue
        user, item = obj["reviewerID"], obj["asin"]
        if not isinstance(user, str) or not user or not isinstance(item, str) or not item:
            bad = "reviewerID" if not isinstance(user, str) or not user else "asin"
            policy.bad(InputError(path, n, f"a non-empty string for {bad}", show(json.dumps(obj[bad]))), text)
            continue
        r = _number(obj["overall"])
        if r is None:
            policy.bad(InputError(path, n, "a number for overall", show(json.dumps(obj["overall"]))), text)
            continue
        if not limits.rating_ok(path, n, r, "overall", policy, text, json.dumps(obj["overall"])):
            continue
        t = _integer(obj["unixReviewTime"])
        if t is None or not INT64_MIN <= t <= INT64_MAX:
            within = "" if t is None else " within 64 bits"
            policy.bad(
                InputError(
                    path,
                    n,
                    f"an integer unix timestamp{within} for unixReviewTime",
                    show(json.dumps(obj["unixReviewTime"])),
                ),
                text,
            )
            continue
        if not limits.ts_ok(path, n, t, "unixReviewTime", policy, text):
            continue
        src.append(user)
        dst.append(item)
        rating.append(r)
        ts.append(t)
        order.append(n)
    stats["records"] = records
    return pd.DataFrame({"src": src, "dst": dst, "rating": rating, "ts": ts, "order": order})


def _number(v: object) -> float | None:
    """A JSON number, or a string holding one, as float (inf for huge values); None otherwise."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        try:
            return float(v)
        except OverflowError:
            return math.inf if v > 0 else -math.inf
    if isinstance(v, float):
        return v
    if isinstance(v, str) and "_" not in v:
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def _integer(v: object) -> int | None:
    """A JSON integer (``100``, ``100.0``, ``"100"``) as int; None for other values, inf and nan."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        v = v.strip()
        if "_" in v:
            return None
        try:
            return int(v)
        except ValueError:
            pass
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, float):
        return int(v) if v.is_integer() else None
    return None


# Metadata fields the reader uses and the JSON types it accepts for them (absent or null is fine).
_META_TYPES: dict[str, tuple[str, tuple[type, ...], bool]] = {
    # field: (description, accepted types, a list's items must be strings)
    "title": ("a string", (str,), False),
    "description": ("a string or a list of strings", (str, list), True),
    "brand": ("a string", (str,), False),
    "category": ("a list of strings", (list,), True),
    "also_buy": ("a list of asin strings", (list,), True),
    "also_view": ("a list of asin strings", (list,), True),
    "main_cat": ("a string", (str,), False),
}


def _meta_type_error(obj: dict) -> tuple[str, str, str] | None:
    """(field, expected, got) for the first used field of the wrong JSON type, else None."""
    for key, (expected, types, items_str) in _META_TYPES.items():
        v = obj.get(key)
        if v is None:
            continue
        if not isinstance(v, types):
            return key, expected, f"a JSON {_json_type(v)} {show(json.dumps(v), 40)}"
        if items_str and isinstance(v, list):
            bad = next((x for x in v if not isinstance(x, str)), None)
            if any(not isinstance(x, str) for x in v):
                return key, expected, f"a list holding a JSON {_json_type(bad)} {show(json.dumps(bad), 40)}"
    return None


def _read_meta(path: Path, wanted: set[str], policy: RecordPolicy, stats: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}
    rows = dups = 0
    for n, text in iter_lines(path, policy, expected="metadata JSON lines (asin, title, description, …)"):
        rows += 1
        obj = _json_object(path, n, text, policy)
        if obj is None:
            continue
        asin = obj.get("asin")
        if not isinstance(asin, str) or not asin:
            policy.bad(
                InputError(path, n, "a metadata object with a string 'asin'", show(json.dumps(asin))), text
            )
            continue
        if asin not in wanted:
            continue
        wrong = _meta_type_error(obj)
        if wrong is not None:
            key, expected, got = wrong
            policy.bad(InputError(path, n, f"{expected} for {key!r}", got), text)
            continue
        used = {k: obj.get(k) for k in _META_USED}
        old = out.get(asin)
        if old is not None:
            if old != used:
                diff = next(k for k in _META_USED if old.get(k) != used.get(k))
                policy.bad(
                    InputError(
                        path,
                        n,
                        f"one metadata row per asin ({asin!r} is on an earlier line)",
                        f"a second row with a different {diff!r}",
                    ),
                    text,
                )
            else:
                dups += 1
            continue
        out[asin] = used
    stats["meta_rows"] = rows
    stats["meta_duplicates"] = dups
    return out
