"""DBpedia (or any SPARQL 1.1 endpoint) → the triples of linked items, cached on disk.

Batched ``VALUES`` queries fetch the triples of up to ``batch`` subjects at a time, at most one request
every ``rate_limit_s`` seconds (be kind to the public endpoint). Every answer is stored in ``cache_dir``
under a hash of endpoint + query, so a re-run, or a run with ``offline=True``, replays it without the
network. The triples then go through the same mapping as files (:func:`persona.ingest.rdf.frames_from_index`),
so a dump and the endpoint give the same graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import urllib.error
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from SPARQLWrapper import GET, JSON, POST, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import SPARQLWrapperException

from persona._retry import Retry, with_retries
from persona.errors import ConfigError
from persona.kgstore.frames import GraphFrames
from persona.kgstore.schema import PREDICATES

from ._ntriples import Triple
from ._values import HOPS, SPARQL_ENDPOINT, check_reader_args
from .errors import FetchError
from .rdf import RDFS_LABEL, frames_from_index, index_triples

DBPEDIA = SPARQL_ENDPOINT  # [ingest] sparql_endpoint

# SPARQL IRIREF: no spaces, controls, <>"{}|^`\ ; anything else cannot be written into a query safely
_IRI_OK = re.compile(r'^[^\x00-\x20<>"{}|^`\\]+$')
_LABEL_FILTER = 'FILTER(!isLiteral(?o) || lang(?o) = "" || langMatches(lang(?o), "en"))'


class SparqlClient:
    """Sends SELECT queries to one endpoint with a cache, rate limiting and retries.

    Args:
        endpoint: SPARQL endpoint URL.
        cache_dir: Folder for cached answers (created if needed).
        offline: Never use the network; a query without a cached answer raises :class:`FetchError`.
        rate_limit_s: Minimum seconds between two network requests.
        timeout_s: Per-request timeout.
        retries: Extra attempts after a network error or a 5xx answer, with exponential backoff.
        method: ``"POST"`` (default: long ``VALUES`` lists fit) or ``"GET"``.
    """

    def __init__(
        self,
        endpoint: str,
        cache_dir: str | os.PathLike[str],
        *,
        offline: bool = False,
        rate_limit_s: float = 1.0,
        timeout_s: float = 60.0,
        retries: int = 3,
        method: str = "POST",
    ) -> None:
        if method not in ("GET", "POST"):
            raise ConfigError(f'method must be "GET" or "POST", got {method!r}')
        self.method = method
        self.endpoint = endpoint
        self.cache_dir = Path(cache_dir)
        self.offline = offline
        self.rate_limit_s = rate_limit_s
        self.timeout_s = timeout_s
        self.retries = retries
        self.requests = 0
        self.cache_hits = 0
        self._last = 0.0

    def cache_path(self, query: str) -> Path:
        """Where the answer to ``query`` is (or will be) cached."""
        key = hashlib.sha256(f"{self.endpoint}\n{query}".encode()).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    def select(self, query: str) -> list[dict[str, Any]]:
        """Run a SELECT query; returns the JSON result bindings (from the cache when present)."""
        path = self.cache_path(query)
        if path.is_file():
            self.cache_hits += 1
            return json.loads(path.read_text(encoding="utf-8"))["result"]["results"]["bindings"]
        if self.offline:
            raise FetchError(
                f"offline, and no cached answer in {self.cache_dir} for a query to {self.endpoint} "
                f"(expected {path.name}); run once with network access to fill the cache"
            )
        result = self._send(query)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"endpoint": self.endpoint, "query": query, "result": result}, fh)
        os.replace(tmp, path)
        return result["results"]["bindings"]

    def _send(self, query: str) -> dict[str, Any]:
        """One query, retried (:func:`persona._retry.with_retries`: 1 s, doubling) on 5xx answers, the
        endpoint's internal errors and unreachable endpoints; every attempt honours ``rate_limit_s``."""

        def attempt() -> dict[str, Any]:
            wait = self._last + self.rate_limit_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            self.requests += 1
            sw = SPARQLWrapper(self.endpoint)
            sw.setQuery(query)
            sw.setMethod(POST if self.method == "POST" else GET)
            sw.setReturnFormat(JSON)
            sw.setTimeout(int(max(1, self.timeout_s)))
            try:
                result = sw.query().convert()
            except urllib.error.HTTPError as e:
                err = FetchError(f"{self.endpoint}: HTTP {e.code} {e.reason} for a query of {len(query)} characters")
                if e.code < 500:
                    raise err from None
                raise Retry(err) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                raise Retry(FetchError(
                    f"{self.endpoint}: cannot reach the endpoint ({getattr(e, 'reason', e)}); "
                    "check the URL and network, or pass --offline to answer from a filled cache"
                )) from None
            except SPARQLWrapperException as e:
                err = FetchError(f"{self.endpoint}: {str(e).splitlines()[0]}")
                if "EndPointInternalError" not in type(e).__name__:
                    raise err from None
                raise Retry(err) from None
            if not isinstance(result, dict) or "results" not in result:
                raise FetchError(f"{self.endpoint}: expected application/sparql-results+json, got {type(result).__name__}")
            return result

        return with_retries(attempt, retries=self.retries, backoff_s=1.0)


def _term(b: dict[str, Any]) -> tuple[str, bool, str | None] | None:
    kind = b.get("type")
    if kind == "uri":
        return b["value"], False, None
    if kind in ("literal", "typed-literal"):
        lang = b.get("xml:lang")
        return b["value"], True, lang.lower() if lang else None
    return None  # blank node


def _values(iris: Iterable[str]) -> str:
    return " ".join(f"<{i}>" for i in iris)


def fetch_triples(
    iris: Iterable[str],
    *,
    endpoint: str = DBPEDIA,
    predicates: Sequence[str] | str | None = None,
    hops: int = HOPS,
    labels: bool = True,
    batch: int = 50,
    rate_limit_s: float = 1.0,
    cache_dir: str | os.PathLike[str],
    offline: bool = False,
    max_rows: int = 10000,
    method: str = "POST",
    progress: Callable[[int, int], None] | None = None,
    stats: dict[str, Any] | None = None,
) -> list[Triple]:
    """Fetch the triples around ``iris``: their own (hop 1), then their objects' (hop 2)…

    Args:
        iris: Subject IRIs (linked items). IRIs that cannot be written safely into a query (spaces,
            ``<>"{}|^`\\``) are skipped and counted in ``stats["sparql_invalid_iris"]``.
        endpoint: SPARQL endpoint URL.
        predicates: Predicate IRIs to fetch; None = the predicate table of the schema (plus
            ``rdfs:label``); ``"*"`` = every predicate.
        hops: How many steps to follow from ``iris``.
        labels: Also fetch English/untagged ``rdfs:label`` of the objects reached.
        batch: Subjects per query.
        rate_limit_s: Minimum seconds between network requests.
        cache_dir: Cache folder (answers keyed by endpoint + query).
        offline: Use only the cache; a missing answer raises :class:`FetchError`.
        max_rows: The endpoint's row cap (DBpedia: 10000); a batch that reaches it is split in halves.
        method: HTTP method, ``"POST"`` or ``"GET"``.
        progress: Called with (queries done, queries planned so far).
        stats: Filled with ``sparql_queries``, ``sparql_requests``, ``sparql_cache_hits``,
            ``sparql_invalid_iris``, ``sparql_truncated``.

    Returns:
        The triples, literals included (labels and anything else the predicates return).

    Raises:
        FetchError: endpoint unreachable or failing after retries, or offline without a cached answer.
        ValueError: ``hops`` or ``batch`` below 1, or bad ``predicates``.
    """
    stats = stats if stats is not None else {}
    check_reader_args(hops=hops)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be at least 1 item per query (--batch), got {batch!r}")
    if predicates is None:
        # the table's IRIs only: a configured key may be a .kg relation id (film.film.actor), not an IRI
        preds: list[str] | None = [p for p in PREDICATES if p.startswith(("http://", "https://"))] + [RDFS_LABEL]
    elif isinstance(predicates, str):
        if predicates != "*":
            raise ConfigError(f'predicates must be a list of IRIs, None or "*", got {predicates!r}')
        preds = None
    else:
        preds = list(predicates)
    bad = [p for p in preds or [] if not _IRI_OK.match(p)]
    if bad:
        raise ConfigError(f"predicate {bad[0]!r} cannot be used in a SPARQL query")
    client = SparqlClient(endpoint, cache_dir, offline=offline, rate_limit_s=rate_limit_s, method=method)
    pred_clause = f"VALUES ?p {{ {_values(preds)} }}\n  " if preds is not None else ""
    invalid = truncated = queries = 0
    out: list[Triple] = []
    planned = 0

    def run(subjects: list[str], template: Callable[[list[str]], str]) -> list[dict[str, Any]]:
        nonlocal truncated, queries
        rows = client.select(template(subjects))
        queries += 1
        if progress:
            progress(queries, planned)
        if len(rows) >= max_rows:
            if len(subjects) > 1:
                mid = len(subjects) // 2
                return run(subjects[:mid], template) + run(subjects[mid:], template)
            truncated += 1
        return rows

    def triples_query(subjects: list[str]) -> str:
        return (
            "SELECT ?s ?p ?o WHERE {\n"
            f"  VALUES ?s {{ {_values(subjects)} }}\n"
            f"  {pred_clause}?s ?p ?o .\n"
            f"  {_LABEL_FILTER}\n"
            "}"
        )

    def label_query(subjects: list[str]) -> str:
        return (
            "SELECT ?s ?o WHERE {\n"
            f"  VALUES ?s {{ {_values(subjects)} }}\n"
            f"  ?s <{RDFS_LABEL}> ?o .\n"
            f"  {_LABEL_FILTER}\n"
            "}"
        )

    seen: set[str] = set()
    frontier: list[str] = []
    for iri in iris:
        if iri in seen:
            continue
        seen.add(iri)
        if _IRI_OK.match(iri):
            frontier.append(iri)
        else:
            invalid += 1
    subjects_done: set[str] = set(frontier)
    labelled: set[str] = set()
    for _hop in range(hops):
        chunks = [frontier[i : i + batch] for i in range(0, len(frontier), batch)]
        planned += len(chunks)
        nxt: list[str] = []
        for chunk in chunks:
            for b in run(chunk, triples_query):
                s, p, o = b.get("s"), b.get("p"), b.get("o")
                if not s or not p or not o or s.get("type") != "uri" or p.get("type") != "uri":
                    continue
                t = _term(o)
                if t is None:
                    continue
                out.append(Triple(s["value"], p["value"], t[0], t[1], t[2]))
                if p["value"] == RDFS_LABEL:
                    labelled.add(s["value"])
                if not t[1] and t[0] not in subjects_done:
                    subjects_done.add(t[0])
                    if _IRI_OK.match(t[0]):
                        nxt.append(t[0])
        frontier = nxt
    want_labels = labels and (preds is None or RDFS_LABEL in preds)
    if want_labels:
        # objects of the last hop were never queried as subjects; fetch their labels only
        todo = [i for i in frontier if i not in labelled]
        chunks = [todo[i : i + batch] for i in range(0, len(todo), batch)]
        planned += len(chunks)
        for chunk in chunks:
            for b in run(chunk, label_query):
                s, o = b.get("s"), b.get("o")
                if s and o and s.get("type") == "uri":
                    t = _term(o)
                    if t is not None and t[1]:
                        out.append(Triple(s["value"], RDFS_LABEL, t[0], True, t[2]))
    stats.update(
        {
            "sparql_queries": queries,
            "sparql_requests": client.requests,
            "sparql_cache_hits": client.cache_hits,
            "sparql_invalid_iris": invalid,
            "sparql_truncated": truncated,
        }
    )
    return out


def fetch_dbpedia(
    links: Mapping[str, str],
    *,
    endpoint: str = DBPEDIA,
    predicates: Sequence[str] | str | None = None,
    hops: int = HOPS,
    batch: int = 50,
    rate_limit_s: float = 1.0,
    cache_dir: str | os.PathLike[str],
    offline: bool = False,
    method: str = "POST",
    progress: Callable[[int, int], None] | None = None,
) -> GraphFrames:
    """Knowledge about linked items from a SPARQL endpoint, mapped like :func:`persona.ingest.read_rdf`.

    Args:
        links: item id → entity IRI (e.g. the ``.link`` file of the dataset).
        endpoint: SPARQL endpoint (default: the public DBpedia endpoint).
        predicates: Predicates to fetch; None = the schema's predicate table + ``rdfs:label``;
            ``"*"`` = all (a predicate outside the table gets a relationship type derived from its name,
            :func:`persona.kgstore.schema.derive_predicate_rules`).
        hops: How far to follow from the linked items.
        batch: Subjects per ``VALUES`` query.
        rate_limit_s: Minimum seconds between network requests.
        cache_dir: Cache folder; answers are replayed from it on re-runs.
        offline: Use only the cache (raises :class:`FetchError` on a miss).
        method: HTTP method, ``"POST"`` or ``"GET"``.
        progress: Called with (queries done, queries planned so far).

    Returns:
        Entity nodes and edges (``Item`` endpoints by item id); ``stats`` has the keys of
        :func:`persona.ingest.rdf.frames_from_index` and of :func:`fetch_triples`.

    Example:
        >>> gf = fetch_dbpedia({"2": "http://dbpedia.org/resource/GoldenEye"},
        ...                    cache_dir=".persona/sparql")  # doctest: +SKIP
    """
    check_reader_args(hops=hops)
    stats: dict[str, Any] = {}
    triples = fetch_triples(
        sorted(set(links.values())),
        endpoint=endpoint,
        predicates=predicates,
        hops=hops,
        batch=batch,
        rate_limit_s=rate_limit_s,
        cache_dir=cache_dir,
        offline=offline,
        method=method,
        progress=progress,
        stats=stats,
    )
    gf = frames_from_index(index_triples(triples), links, hops)
    gf.stats.update(stats)
    return gf
