"""RecBole atomic files (``PREFIX.inter`` + optional ``.item``, ``.user``, ``.kg``, ``.link``) → frames.

Zhao et al., "RecBole: Towards a Unified, Comprehensive and Efficient Framework for Recommendation
Algorithms", CIKM 2021 (file format); Wang et al., "Amazon-KG: A Knowledge Graph Enhanced
Cross-Domain Recommendation Dataset", SIGIR 2024 (the Amazon-KG files this is tested on).

Each file starts with a header of tab-separated ``name:type`` columns. As in RecBole, a ``token`` or
``token_seq`` value is a string and only ``float`` values are numbers: a ``release_year:token`` or
``age:token`` column gives ``Item.year`` / ``User.age`` when its token is an integer (then the year or age
must be plausible, like a number's), and no value when it is another word (RecBole's ``ml-100k.item``
writes ``unkonwn``), counted per column in ``stats["tokens_not_numbers"]``; a ``year:float`` value that
is not a number is a bad record. ``rating`` and ``timestamp`` are numbers whatever their declared type:
they weigh and order the interactions. Recognised columns:

* ``.inter``: ``user_id``, ``item_id`` (required), ``rating``, ``timestamp``. Without ``timestamp`` the
  file order of a user's rows is taken as chronological (``RATED.ts`` is then null).
* ``.item``: ``item_id`` (required), ``title`` / ``movie_title``, ``description``, ``year`` /
  ``release_year``, ``genre`` / ``class`` (→ ``Genre``), ``categories`` (→ ``Category``), ``brand``
  (→ ``Brand``); ``price``, ``sales_rank`` and ``sales_type`` are recognised and ignored. Columns typed
  ``token_seq`` hold space-separated tokens (RecBole's separator); ``_`` in such a token is a space.
* ``.user``: ``user_id`` (required), ``age``, ``gender``, ``occupation``; ``zip_code`` is ignored.
* ``.kg``: ``head_id``, ``relation_id``, ``tail_id``. Entities are IRIs, ``res:X``, or plain tokens
  (Freebase ``m.0dyb1``); relations are IRIs, prefixed names (``dbo:director``, ``dct:subject``), bare
  names matched to the predicate table (``director``, ``directed_by``, ``subject_is`` …, see
  :func:`relation_iri`), or any other name, which becomes its own relationship type
  (:func:`persona.kgstore.schema.derive_predicate_rules`: ``film.film.actor`` → ``FILM_ACTOR`` →
  ``Person``). ``[ingest.predicates]`` overrides a rule, keyed by the relation as the mapping report
  (``stats["predicate_types"]``) names it.
* ``.link``: ``item_id``, ``entity_id``.

Any other column name is an error that names the header.

Why one long module: the five atomic files share one header grammar and one set of record checks
(each error names the file, the line and the expected type).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from persona.kgstore.frames import GraphFrames
from persona.kgstore.schema import PREDICATES

from ._common import PathArg, as_paths, check_endpoints, merge_frames, restrict_links
from ._io import parse_float, parse_int
from ._ntriples import Triple
from ._recbole import iter_table, read_link
from ._text import bad_iri_char, expand_entity, guess_domain, iri_name
from ._values import (
    AGE_MAX,
    AGE_MIN,
    HOPS,
    K_CORE,
    RATING_MAX,
    RATING_MIN,
    TS_MAX,
    TS_MIN,
    YEAR_MAX,
    YEAR_MIN,
    Limits,
    check_reader_args,
    in_range,
)
from .errors import InputError, RecordPolicy, show
from .rdf import frames_from_index, index_files, index_triples
from .sequences import finish_interactions

_INTER_COLS = {"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "unix time"}
_ITEM_COLS = {
    "item_id": "item",
    "title": "title",
    "movie_title": "title",
    "description": "text",
    "year": "year",
    "release_year": "year",
    "genre": "genres",
    "class": "genres",
    "categories": "categories",
    "brand": "brand",
    "price": "ignored",
    "sales_rank": "ignored",
    "sales_type": "ignored",
}
_USER_COLS = {
    "user_id": "user",
    "age": "age",
    "gender": "gender",
    "occupation": "occupation",
    "zip_code": "ignored",
}
_KG_COLS = {"head_id": "head entity", "relation_id": "relation", "tail_id": "tail entity"}

_NAMESPACES = {
    "dbo:": "http://dbpedia.org/ontology/",
    "dbp:": "http://dbpedia.org/property/",
    "dct:": "http://purl.org/dc/terms/",
    "dcterms:": "http://purl.org/dc/terms/",
    "rdfs:": "http://www.w3.org/2000/01/rdf-schema#",
    "foaf:": "http://xmlns.com/foaf/0.1/",
}
# Relation names of the Amazon-KG paper (Wang et al. 2024) that differ from the DBpedia local name.
_ALIASES = {
    "directed_by": "director",
    "got_award": "award",
    "subject": "subject",
    "musiccomposer": "musicComposer",
}


def relation_iri(name: str) -> str:
    """The predicate IRI for a ``.kg`` relation id.

    Full IRIs and prefixed names (``dbo:``, ``dbp:``, ``dct:``, ``rdfs:``, ``foaf:``) are expanded;
    bare names are matched, case-insensitively and without a trailing ``_is``, against the local names
    of :data:`~persona.kgstore.schema.PREDICATES` (``writer_is`` → ``dbo:writer``, ``subject_is`` →
    ``dct:subject``, ``directed_by`` → ``dbo:director``). Anything else (Freebase ``film.film.actor``) is
    returned unchanged and gets a relationship type of its own (see the module doc).
    """
    v = name.strip()
    if v.startswith("<") and v.endswith(">"):
        v = v[1:-1]
    if v.startswith(("http://", "https://")):
        return v
    for prefix, ns in _NAMESPACES.items():
        if v.startswith(prefix):
            return ns + v[len(prefix) :]
    base = v[:-3] if v.lower().endswith("_is") else v
    base = _ALIASES.get(base.lower(), base)
    for iri in PREDICATES:
        local = iri.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        if local.lower() == base.lower():
            return iri
    return v


_EXTS = ("inter", "item", "user", "kg", "link")


def _files(prefix: Path) -> dict[str, Path]:
    if prefix.is_dir():  # RecBole dataset folder: NAME/NAME.inter
        prefix = prefix / prefix.name
    elif prefix.suffix[1:] in _EXTS and not prefix.with_name(prefix.name + ".inter").exists():
        prefix = prefix.with_suffix("")  # given as PREFIX.inter (or .item …) instead of PREFIX
    return {ext: prefix.with_name(prefix.name + "." + ext) for ext in _EXTS}


def read_atomic(
    prefix: str | PathLike[str],
    *,
    rdf: PathArg | Sequence[PathArg] = (),
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
    """Read a RecBole atomic dataset (see the module doc for the columns).

    ``Item.title`` comes from ``.item``; items without one take the name of their linked entity
    (``res:The_Prophet_(book)`` → ``The Prophet (book)``, counted in ``stats["titles_from_link"]``), so
    every linked item has some text. ``.kg`` triples and ``rdf`` files go through the same mapping as
    :func:`persona.ingest.read_rdf`.

    Args:
        prefix: Path without extension (``…/Amazon-KG-5core-Books``; ``….inter`` is accepted too), or a
            RecBole dataset folder.
        rdf: RDF files about the linked items.
        hops: How far ``.kg`` / RDF triples are followed from the linked items.
        k_core: Keep users and items with at least this many interactions (0 = all).
        skip_invalid: Skip bad records (counted in ``stats["skipped"]``) instead of raising.
        rejects: JSON-lines file receiving the skipped records.
        domain: ``Item.domain``; default guessed from the file name (``…Books`` → ``book``,
            ``…Movies_and_TV`` → ``movie``, otherwise ``product``).
        rating_min: Lowest accepted ``rating`` (Amazon-KG: all 1); an empty rating field is allowed,
            one outside ``[rating_min, rating_max]`` or not finite is a bad record.
        rating_max: Highest accepted ``rating``.
        ts_min: Earliest accepted ``timestamp`` (Unix seconds, default 0 = 1970-01-01).
        ts_max: Latest accepted ``timestamp`` (default 4102444800 = 2100-01-01).

    Returns:
        Complete frames; ``stats``: ``source``, ``records``, ``timestamps`` (bool), ``duplicates``,
        ``duplicate_rows``, ``k_core``, ``k_core_removed``, ``links``, ``titles_from_link``,
        ``kg_rows``, ``skipped``, ``tokens_not_numbers`` (when a year or age token is a word), and the
        RDF keys when ``.kg`` or ``rdf`` is given, among them ``predicate_types``: the predicate →
        relationship type → label mapping (:func:`persona.ingest.rdf.predicate_map`).

    Raises:
        InputError: missing ``.inter``, empty or header-only ``.inter``, unknown or repeated column
            header, wrong column count, non-numeric or out-of-range rating/timestamp, a ``float`` year or
            age that is not an integer, an integer year or age out of range,
            conflicting duplicate ``.item``/``.user`` rows; a ``k_core`` that leaves no interaction.
        ValueError: ``rdf`` given without linked items; a negative ``k_core``, ``hops`` below 1, or an
            empty rating / time range.
    """
    check_reader_args(
        k_core=k_core, hops=hops, rating_min=rating_min, rating_max=rating_max, ts_min=ts_min, ts_max=ts_max
    )
    limits = Limits(rating_min, rating_max, ts_min, ts_max)
    files = _files(Path(prefix))
    policy = RecordPolicy(skip_invalid, rejects)
    stats: dict[str, Any] = {"source": "atomic", "duplicate_rows": 0}
    inter = _read_inter(files["inter"], policy, stats, limits)
    rated = finish_interactions(inter, k_core, stats, source=files["inter"])
    item_ids = sorted(pd.unique(rated["dst"]))
    user_ids = sorted(pd.unique(rated["src"]))
    if domain is None:
        domain = guess_domain(files["inter"].stem)

    items = _read_items(files["item"], policy, stats) if files["item"].exists() else {}
    users = _read_users(files["user"], policy, stats) if files["user"].exists() else {}
    all_links = read_link(files["link"], policy, tokens_ok=True) if files["link"].exists() else {}
    stats["links"] = len(all_links)
    kept = set(item_ids)
    links = {i: e for i, e in all_links.items() if i in kept}

    gf = GraphFrames(stats=stats)
    gf.add_nodes(
        "User",
        pd.DataFrame(
            {
                "id": user_ids,
                "age": pd.array([users.get(u, {}).get("age") for u in user_ids], dtype="Int64"),
                "gender": [users.get(u, {}).get("gender") for u in user_ids],
                "occupation": [users.get(u, {}).get("occupation") for u in user_ids],
            }
        ),
    )
    titles, from_link = [], 0
    for i in item_ids:
        t = items.get(i, {}).get("title")
        if not t and i in links:
            t = iri_name(links[i])
            from_link += 1
        titles.append(t or None)
    stats["titles_from_link"] = from_link
    gf.add_nodes(
        "Item",
        pd.DataFrame(
            {
                "id": item_ids,
                "title": titles,
                "description": [items.get(i, {}).get("description") for i in item_ids],
                "year": pd.array([items.get(i, {}).get("year") for i in item_ids], dtype="Int64"),
                "domain": domain,
                "categories": [items.get(i, {}).get("categories") or None for i in item_ids],
                "iri": [
                    links.get(i) if links.get(i, "").startswith(("http://", "https://")) else None
                    for i in item_ids
                ],
            }
        ),
    )
    for key, label, rel in (
        ("genres", "Genre", "HAS_GENRE"),
        ("categories", "Category", "IN_CATEGORY"),
        ("brand", "Brand", "HAS_BRAND"),
    ):
        pairs = [(i, v) for i in item_ids for v in items.get(i, {}).get(key) or []]
        names = sorted({v for _, v in pairs})
        if names:
            gf.add_nodes(label, pd.DataFrame({"id": names, "name": names}))
            gf.add_rels(rel, "Item", label, pd.DataFrame(pairs, columns=["src", "dst"]))
    gf.add_rels("RATED", "User", "Item", rated)

    if files["kg"].exists():
        triples = _read_kg(files["kg"], policy, stats)
        merge_frames(gf, frames_from_index(index_triples(triples), links, hops))
    paths = as_paths(rdf)
    if paths:
        iri_links = restrict_links(links, item_ids)
        if not iri_links:
            raise ValueError(
                f"RDF files were given but no item is linked to an entity IRI: expected {files['link']} "
                "with item_id → IRI rows for items of the .inter file"
            )
        merge_frames(gf, frames_from_index(index_files(paths, iri_links, hops, policy), iri_links, hops))
    policy.finish(gf.stats)
    check_endpoints(gf)
    return gf


def _read_inter(path: Path, policy: RecordPolicy, stats: dict, limits: Limits) -> pd.DataFrame:
    if not path.exists():
        raise InputError(
            path,
            None,
            "an existing RecBole .inter file (PREFIX.inter)",
            "no such file",
            hint="check the prefix",
        )
    cols, _types, rows = iter_table(
        path, policy, _INTER_COLS, ("user_id", "item_id"), "a RecBole .inter file"
    )
    cu, ci = cols["user_id"], cols["item_id"]
    cr, ct = cols.get("rating"), cols.get("timestamp")
    src: list[str] = []
    dst: list[str] = []
    rating: list[float | None] = []
    ts: list[int | None] = []
    order: list[int] = []
    records = 0
    for n, text, f in rows:
        records += 1
        u, i = f[cu], f[ci]
        if not u.strip() or not i.strip():
            policy.bad(InputError(path, n, "a user id and an item id", "an empty id"), text)
            continue
        r = None
        if cr is not None and f[cr] != "":
            r = parse_float(path, n, f[cr], "rating", policy, text)
            if r is None or not limits.rating_ok(path, n, r, "rating", policy, text, f[cr]):
                continue
        t = None
        if ct is not None:
            t = parse_int(path, n, f[ct], "unix timestamp", policy, text)
            if t is None or not limits.ts_ok(path, n, t, "timestamp", policy, text):
                continue
        src.append(u)
        dst.append(i)
        rating.append(r)
        ts.append(t)
        order.append(n)
    if records == 0 and not any(r["file"] == str(path) for r in policy.records):
        raise InputError(path, None, "interaction rows after the header line", "only the header")
    stats["records"] = records
    stats["timestamps"] = ct is not None
    return pd.DataFrame(
        {
            "src": src,
            "dst": dst,
            "rating": pd.array(rating, dtype="Float64"),
            "ts": pd.array(ts, dtype="Int64"),
            "order": order,
        }
    )


#: A token that spells an integer (``1995``, ``-3``, ``2001.0``); other tokens are words, not numbers.
_INTEGER_TOKEN = re.compile(r"[+-]?[0-9]+(?:\.0*)?")


def _integer(
    path: Path,
    n: int,
    value: str,
    typ: str,
    column: str,
    what: str,
    policy: RecordPolicy,
    raw: str,
    stats: dict,
) -> tuple[bool, int | None]:
    """Read an integer column (year, age): (record ok, value or None).

    A ``float`` column must hold a number (otherwise a bad record). A ``token`` column holds a string: a
    token that spells an integer is that number, any other token (``unkonwn``) is no value, counted in
    ``stats["tokens_not_numbers"][column]``.
    """
    if typ.startswith("token") and not _INTEGER_TOKEN.fullmatch(value.strip()):
        counts = stats.setdefault("tokens_not_numbers", {})
        counts[column] = counts.get(column, 0) + 1
        return True, None
    v = parse_int(path, n, value, what, policy, raw)
    return v is not None, v


def _seq(value: str, typ_is_seq: bool) -> list[str]:
    if not value.strip():
        return []
    if not typ_is_seq:
        return [value.strip()]
    return [t.replace("_", " ") for t in value.split()]


def _read_items(path: Path, policy: RecordPolicy, stats: dict) -> dict[str, dict]:
    cols, types, rows = iter_table(path, policy, _ITEM_COLS, ("item_id",), "a RecBole .item file")
    out: dict[str, dict] = {}
    for n, text, f in rows:
        item = f[cols["item_id"]]
        rec: dict[str, Any] = {}
        for name in ("title", "movie_title"):
            if name in cols and f[cols[name]].strip():
                rec["title"] = f[cols[name]].strip()
        if "description" in cols and f[cols["description"]].strip():
            rec["description"] = f[cols["description"]].strip()
        year_ok = True
        for name in ("year", "release_year"):
            if name in cols and f[cols[name]].strip():
                ok, y = _integer(path, n, f[cols[name]], types[name], name, "year", policy, text, stats)
                if not ok or (
                    y is not None and not in_range(path, n, y, YEAR_MIN, YEAR_MAX, f"a {name}", policy, text)
                ):
                    year_ok = False
                    break
                if y is not None:
                    rec["year"] = y
        if not year_ok:
            continue
        for name, key in (
            ("genre", "genres"),
            ("class", "genres"),
            ("categories", "categories"),
            ("brand", "brand"),
        ):
            if name in cols:
                rec[key] = _seq(f[cols[name]], types[name].endswith("_seq"))
        old = out.get(item)
        if old is not None:
            if old != rec:
                policy.bad(
                    InputError(
                        path,
                        n,
                        f"one row per item ({item!r} is on an earlier line)",
                        "a second, different row",
                    ),
                    text,
                )
            else:
                stats["duplicate_rows"] += 1
            continue
        out[item] = rec
    return out


def _read_users(path: Path, policy: RecordPolicy, stats: dict) -> dict[str, dict]:
    cols, types, rows = iter_table(path, policy, _USER_COLS, ("user_id",), "a RecBole .user file")
    out: dict[str, dict] = {}
    for n, text, f in rows:
        user = f[cols["user_id"]]
        rec: dict[str, Any] = {}
        if "age" in cols and f[cols["age"]].strip():
            ok, age = _integer(path, n, f[cols["age"]], types["age"], "age", "age", policy, text, stats)
            if not ok or (
                age is not None and not in_range(path, n, age, AGE_MIN, AGE_MAX, "an age", policy, text)
            ):
                continue
            if age is not None:
                rec["age"] = age
        for name in ("gender", "occupation"):
            if name in cols and f[cols[name]].strip():
                rec[name] = f[cols[name]].strip()
        old = out.get(user)
        if old is not None:
            if old != rec:
                policy.bad(
                    InputError(
                        path,
                        n,
                        f"one row per user ({user!r} is on an earlier line)",
                        "a second, different row",
                    ),
                    text,
                )
            else:
                stats["duplicate_rows"] += 1
            continue
        out[user] = rec
    return out


def _read_kg(path: Path, policy: RecordPolicy, stats: dict) -> list[Triple]:
    cols, _types, rows = iter_table(
        path, policy, _KG_COLS, ("head_id", "relation_id", "tail_id"), "a RecBole .kg file"
    )
    out: list[Triple] = []
    for n, text, f in rows:
        h, r, t = (f[cols[c]].strip() for c in ("head_id", "relation_id", "tail_id"))
        if not h or not r or not t:
            empty = "head_id" if not h else "relation_id" if not r else "tail_id"
            policy.bad(
                InputError(path, n, "a head entity, a relation and a tail entity", f"an empty {empty}"), text
            )
            continue
        head, rel, tail = expand_entity(h) or h, relation_iri(r), expand_entity(t) or t
        wrong = next(
            ((col, v) for col, v in (("head_id", head), ("relation_id", rel), ("tail_id", tail))
             if v.startswith(("http://", "https://")) and bad_iri_char(v)),
            None,
        )  # fmt: skip
        if wrong is not None:
            col, v = wrong
            policy.bad(
                InputError(
                    path,
                    n,
                    f'an IRI for {col} without spaces, control characters, <, > or " (percent-encode them)',
                    f"{show(v)}, which contains {bad_iri_char(v)!r}",
                ),
                text,
            )
            continue
        out.append(Triple(head, rel, tail, False, None))
    stats["kg_rows"] = len(out)
    return out
