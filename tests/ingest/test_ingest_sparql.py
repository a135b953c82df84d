"""SPARQL fetching against a real SPARQL engine (pyoxigraph) behind real HTTP on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_testutil import edges, write
from persona.ingest import FetchError, fetch_dbpedia, read_rdf
from persona.ingest.errors import RecordPolicy
from sparql_server import SparqlServer, load_store

DBR = "http://dbpedia.org/resource/"
DBO = "http://dbpedia.org/ontology/"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"

KG = f"""<{DBR}Heat> <{DBO}director> <{DBR}Michael_Mann> .
<{DBR}Heat> <{DBO}starring> <{DBR}Al_Pacino> .
<{DBR}Heat> <http://example.org/mood> <{DBR}Dark> .
<{DBR}Heat> <{DBO}runtime> "170" .
<{DBR}Heat> <{LABEL}> "Heat"@en .
<{DBR}Heat> <{LABEL}> "Heat (Film)"@de .
<{DBR}Al_Pacino> <{LABEL}> "Al Pacino"@en .
<{DBR}Al_Pacino> <{LABEL}> "Al Pacino (de)"@de .
<{DBR}Michael_Mann> <{DBO}award> <{DBR}Emmy_Award> .
<{DBR}Emmy_Award> <{LABEL}> "Emmy Award" .
<{DBR}Ronin> <{DBO}director> <{DBR}John_Frankenheimer> .
<{DBR}Ronin> <{DBO}previousWork> <{DBR}Heat> .
"""
LINKS = {"i1": DBR + "Heat", "i2": DBR + "Ronin", "i3": DBR + "Not_In_Store"}


def _same(a, b) -> None:
    assert a.counts() == b.counts()
    for rf in a.rels:
        assert edges(a, rf.type, rf.src_label, rf.dst_label) == edges(b, rf.type, rf.src_label, rf.dst_label)
        if "predicate" in rf.df:
            pa = sorted(map(tuple, rf.df.values.tolist()))
            pb = sorted(
                map(
                    tuple,
                    next(
                        x
                        for x in b.rels
                        if (x.type, x.src_label, x.dst_label) == (rf.type, rf.src_label, rf.dst_label)
                    ).df.values.tolist(),
                )
            )
            assert pa == pb
    for label, df in a.nodes.items():
        cols = ["id", "iri", "name"]
        assert (
            df[cols].sort_values("id").values.tolist()
            == b.nodes[label][cols].sort_values("id").values.tolist()
        )


@pytest.mark.parametrize("hops", [1, 2])
def test_endpoint_equals_file_and_cache_replays(tmp_path: Path, hops: int) -> None:
    nt = write(tmp_path / "kg.nt", KG)
    cache = tmp_path / "cache"
    with SparqlServer(load_store(nt)) as srv:
        gf = fetch_dbpedia(
            LINKS, endpoint=srv.url, predicates="*", hops=hops, batch=2, rate_limit_s=0, cache_dir=cache
        )
        n_queries = len(srv.queries)
    from_file = read_rdf(nt, LINKS, hops=hops)
    _same(gf, from_file)
    assert gf.stats["unknown_predicates"] == {"http://example.org/mood": 1}
    assert gf.stats["sparql_requests"] == n_queries == gf.stats["sparql_queries"] > 0
    names = gf.nodes["Person"].set_index("id")["name"]
    assert names[DBR + "Al_Pacino"] == "Al Pacino"  # English label, not the German one
    # the server is gone: a re-run and an offline run replay the cache
    again = fetch_dbpedia(
        LINKS, endpoint=srv.url, predicates="*", hops=hops, batch=2, rate_limit_s=0, cache_dir=cache
    )
    offline = fetch_dbpedia(
        LINKS, endpoint=srv.url, predicates="*", hops=hops, batch=2, cache_dir=cache, offline=True
    )
    for g in (again, offline):
        _same(g, gf)
        assert g.stats["sparql_requests"] == 0 and g.stats["sparql_cache_hits"] == n_queries


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_default_predicates_use_the_schema_table(tmp_path: Path, method: str) -> None:
    nt = write(tmp_path / "kg.nt", KG)
    with SparqlServer(load_store(nt)) as srv:
        gf = fetch_dbpedia(LINKS, endpoint=srv.url, rate_limit_s=0, cache_dir=tmp_path / "c", method=method)
        assert srv.methods == {method}
    assert edges(gf, "DIRECTED_BY", "Item", "Person") == {
        ("i1", DBR + "Michael_Mann"),
        ("i2", DBR + "John_Frankenheimer"),
    }
    assert edges(gf, "PREVIOUS_WORK", "Item", "Item") == {("i2", "i1")}
    assert "RELATED_TO" not in gf.counts()  # the unknown predicate was not asked for
    assert gf.nodes["Person"].set_index("id")["name"][DBR + "Al_Pacino"] == "Al Pacino"  # label of an object


def test_offline_without_cache_and_unreachable_endpoint(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="offline, and no cached answer"):
        fetch_dbpedia(LINKS, endpoint="http://127.0.0.1:9/sparql", cache_dir=tmp_path, offline=True)
    with SparqlServer(load_store(write(tmp_path / "kg.nt", KG))) as srv:
        url = srv.url
    from persona.ingest.sparql import SparqlClient

    client = SparqlClient(url, tmp_path / "c2", rate_limit_s=0, retries=0)
    with pytest.raises(FetchError, match="cannot reach the endpoint"):
        client.select("SELECT * WHERE { ?s ?p ?o } LIMIT 1")


def test_iris_unsafe_in_a_query_are_skipped(tmp_path: Path) -> None:
    with SparqlServer(load_store(write(tmp_path / "kg.nt", KG))) as srv:
        bad = {"x": "http://e/a> } ; DROP ALL ; #", "i1": DBR + "Heat"}
        gf = fetch_dbpedia(bad, endpoint=srv.url, rate_limit_s=0, cache_dir=tmp_path / "c")
        assert all("DROP" not in q for q in srv.queries)
    assert gf.stats["sparql_invalid_iris"] == 1
    assert edges(gf, "DIRECTED_BY") == {("i1", DBR + "Michael_Mann")}


def test_rate_limit_spaces_requests(tmp_path: Path) -> None:
    import time

    with SparqlServer(load_store(write(tmp_path / "kg.nt", KG))) as srv:
        t = time.monotonic()
        gf = fetch_dbpedia(
            LINKS,
            endpoint=srv.url,
            batch=1,
            rate_limit_s=0.2,
            cache_dir=tmp_path / "c",
            predicates=[DBO + "director"],
        )
        elapsed = time.monotonic() - t
    assert gf.stats["sparql_requests"] == 3
    assert elapsed >= 0.4  # three requests, two waits


@pytest.mark.realdata
def test_real_movies_endpoint_equals_dump(datasets: Path, tmp_path: Path) -> None:
    from persona.ingest._recbole import read_link

    dump = datasets / "dbpedia-movies" / "movies.nt.gz"
    links = read_link(datasets / "dbpedia-movies" / "ml-100k.link", RecordPolicy())
    links = dict(sorted(links.items(), key=lambda kv: int(kv[0]))[:300])
    with SparqlServer(load_store(dump)) as srv:
        gf = fetch_dbpedia(links, endpoint=srv.url, batch=50, rate_limit_s=0, cache_dir=tmp_path / "cache")
        assert len(srv.queries) == gf.stats["sparql_queries"] >= 6
    _same(gf, read_rdf(dump, links))
    assert gf.stats["linked_items"] == 300 and gf.stats["rdf_edges"] > 2000
    offline = fetch_dbpedia(links, endpoint=srv.url, batch=50, cache_dir=tmp_path / "cache", offline=True)
    _same(offline, gf)
