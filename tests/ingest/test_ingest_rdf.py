"""RDF → entity nodes and edges: parser paths, formats, mapping rules, hops, real DBpedia dumps."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import rdflib
from ingest_testutil import EVIL, edges, rel, write
from persona.ingest import read_rdf
from persona.ingest._ntriples import parse_fast, parse_slow
from persona.ingest.errors import RecordPolicy
from persona.ingest.rdf import TripleIndex, parse_ntriples

DBR = "http://dbpedia.org/resource/"
DBO = "http://dbpedia.org/ontology/"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"

NT = f"""# a comment line
<{DBR}Heat_(1995_film)> <{DBO}director> <{DBR}Michael_Mann> .
<{DBR}Heat_(1995_film)> <{DBO}starring> <{DBR}Al_Pacino> .
<{DBR}Heat_(1995_film)>  <{DBO}starring>	<{DBR}Robert_De_Niro> .
<{DBR}Heat_(1995_film)> <{DBO}distributor> <{DBR}Warner_Bros.> .
<{DBR}Heat_(1995_film)> <{DBO}runtime> "170"^^<http://www.w3.org/2001/XMLSchema#double> .
<{DBR}Heat_(1995_film)> <http://example.org/mood> <{DBR}Dark> .
<{DBR}Heat_(1995_film)> <{DBO}subsequentWork> <{DBR}Ronin_(film)> .
<{DBR}Heat_(1995_film)> <{DBO}genre> "crime"@en .
<{DBR}Al_Pacino> <{LABEL}> "Al Pacino"@de .
<{DBR}Al_Pacino> <{LABEL}> "Alfredo \\"Al\\" Pacino"@en .
<{DBR}Michael_Mann> <{DBO}award> <{DBR}Emmy_Award> .
<{DBR}Michael_Mann> <{LABEL}> "Michael Kenneth Mann" .
<{DBR}Robert_De_Niro> <{DBO}distributor> <{DBR}Al_Pacino> .
<{DBR}Unlinked_film> <{DBO}director> <{DBR}Someone> .
<{DBR}Ronin_(film)> <{DBO}director> <{DBR}John_Frankenheimer> .
<{DBR}Caf%C3%A9_Society> <{DBO}director> <{DBR}Woody_Allen> .
"""
LINKS = {
    "i1": DBR + "Heat_(1995_film)",
    "i2": DBR + "Ronin_(film)",
    "i2b": DBR + "Ronin_(film)",
    "i3": DBR + "Caf%C3%A9_Society",
}


def test_fast_path_matches_rdflib_on_each_line() -> None:
    lines = [x for x in NT.splitlines() if x and not x.startswith("#")]
    for line in lines:
        fast = parse_fast(line.strip())
        slow = parse_slow(line)
        if fast is None:
            assert "\\" in line  # only the escaped literal needs the fallback here
        elif "^^" in line:  # rdflib normalises typed lexical forms ("170" → "170.0"); labels are untyped
            assert (fast.s, fast.p, float(fast.o), fast.literal) == (
                slow[0].s,
                slow[0].p,
                float(slow[0].o),
                True,
            )
        else:
            assert [fast] == slow, line


def test_fallback_counts_and_values(tmp_path: Path) -> None:
    index = TripleIndex()
    parse_ntriples(write(tmp_path / "k.nt", NT), index, None, RecordPolicy())
    assert index.read == 16 and index.fallback == 1
    assert index.labels[DBR + "Al_Pacino"] == (0, 'Alfredo "Al" Pacino')  # @en beats @de, escape decoded
    assert index.labels[DBR + "Michael_Mann"] == (1, "Michael Kenneth Mann")


def test_mapping_one_hop(tmp_path: Path) -> None:
    gf = read_rdf(write(tmp_path / "k.nt", NT), LINKS)
    assert edges(gf, "DIRECTED_BY", "Item", "Person") == {
        ("i1", DBR + "Michael_Mann"),
        ("i2", DBR + "John_Frankenheimer"),
        ("i2b", DBR + "John_Frankenheimer"),
        ("i3", DBR + "Woody_Allen"),
    }
    assert edges(gf, "STARRING", "Item", "Person") == {
        ("i1", DBR + "Al_Pacino"),
        ("i1", DBR + "Robert_De_Niro"),
    }
    assert edges(gf, "DISTRIBUTED_BY", "Item", "Company") == {("i1", DBR + "Warner_Bros.")}
    # an object that is a linked item resolves to the items (two items share Ronin's IRI)
    assert edges(gf, "SUBSEQUENT_WORK", "Item", "Item") == {("i1", "i2"), ("i1", "i2b")}
    # a predicate outside the table gets its own type, derived from its name (not one RELATED_TO for all)
    assert edges(gf, "MOOD", "Item", "Entity") == {("i1", DBR + "Dark")}
    assert rel(gf, "RELATED_TO").empty
    s = gf.stats
    assert s["unknown_predicates"] == {"http://example.org/mood": 1}
    assert s["unknown_literal_predicates"] == {DBO + "runtime": 1}
    assert s["literal_objects_skipped"] == {DBO + "genre": 1}
    assert s["linked_items"] == 4 and s["linked_items_with_triples"] == 4
    # no 2-hop edges
    assert edges(gf, "WON_AWARD") == set() and "Award" not in gf.nodes
    people = gf.nodes["Person"].set_index("id")["name"]
    assert people[DBR + "Al_Pacino"] == 'Alfredo "Al" Pacino'
    assert people[DBR + "Michael_Mann"] == "Michael Kenneth Mann"
    assert people[DBR + "Robert_De_Niro"] == "Robert De Niro"  # from the IRI
    assert people[DBR + "Woody_Allen"] == "Woody Allen"
    assert gf.nodes["Company"].set_index("id").loc[DBR + "Warner_Bros.", "iri"] == DBR + "Warner_Bros."
    assert "Item" not in gf.nodes  # items are the readers' (or the store's)
    assert DBR + "Someone" not in set(gf.nodes["Person"]["id"])  # unreachable


def test_two_hops_and_label_conflicts(tmp_path: Path) -> None:
    gf = read_rdf(write(tmp_path / "k.nt.gz", NT, gz=True), LINKS, hops=2)
    assert edges(gf, "WON_AWARD", "Person", "Award") == {(DBR + "Michael_Mann", DBR + "Emmy_Award")}
    # Al Pacino is reached by starring (Person) and by a distributor edge (Company) once each: Person wins
    # the tie by the order of ENTITY_LABELS; the edge keeps the chosen label
    assert edges(gf, "DISTRIBUTED_BY", "Person", "Person") == {(DBR + "Robert_De_Niro", DBR + "Al_Pacino")}
    assert gf.stats["label_conflicts"] == 1
    assert edges(gf, "DIRECTED_BY", "Item", "Person") >= {("i2", DBR + "John_Frankenheimer")}


def test_names_from_iris(tmp_path: Path) -> None:
    nt = f"<{DBR}A> <{DBO}director> <{DBR}Jos%C3%A9_Ferrer_(actor)> .\n<{DBR}A> <{DBO}writer> <{DBR}%22Weird_Al%22_Yankovic> .\n"
    gf = read_rdf(write(tmp_path / "k.nt", nt), {"1": DBR + "A"})
    names = set(gf.nodes["Person"]["name"])
    assert names == {"José Ferrer (actor)", '"Weird Al" Yankovic'}


def test_formats_agree(tmp_path: Path) -> None:
    g = rdflib.Graph()
    g.parse(data=NT, format="nt")
    ttl = write(tmp_path / "k.ttl", g.serialize(format="turtle"))
    xml = write(tmp_path / "k.rdf.gz", g.serialize(format="xml"), gz=True)
    nt = write(tmp_path / "k.nt", NT)
    results = [read_rdf(p, LINKS, hops=2) for p in (nt, ttl, xml)]
    for gf in results[1:]:
        assert gf.counts() == results[0].counts()
        for rf in results[0].rels:
            assert edges(gf, rf.type, rf.src_label, rf.dst_label) == edges(
                results[0], rf.type, rf.src_label, rf.dst_label
            )
        assert (
            gf.nodes["Person"].sort_values("id").values.tolist()
            == results[0].nodes["Person"].sort_values("id").values.tolist()
        )


def test_several_files_and_skipped_lines(tmp_path: Path) -> None:
    a = write(tmp_path / "a.nt", f"<{DBR}X> <{DBO}director> <{DBR}P> .\nnot rdf at all\n")
    b = write(tmp_path / "b.ttl", f"<{DBR}X> <{DBO}writer> <{DBR}Q> .\n")
    rejects = tmp_path / "rej.jsonl"
    gf = read_rdf([a, b], {"m": DBR + "X"}, skip_invalid=True, rejects=rejects)
    assert edges(gf, "DIRECTED_BY") == {("m", DBR + "P")} and edges(gf, "WRITTEN_BY") == {("m", DBR + "Q")}
    assert gf.stats["skipped"] == 1 and '"line": 2' in rejects.read_text()


def test_evil_iris_and_literals_stay_strings(tmp_path: Path) -> None:
    evil_iri = "http://e/" + EVIL.replace(" ", "%20")
    nt = f'<{evil_iri}> <{DBO}director> <{evil_iri}x> .\n<{evil_iri}x> <{LABEL}> "{EVIL}" .\n'
    gf = read_rdf(write(tmp_path / "k.nt", nt), {EVIL: evil_iri}, hops=2)
    assert edges(gf, "DIRECTED_BY") == {(EVIL, evil_iri + "x")}
    assert gf.nodes["Person"]["name"].tolist() == [EVIL]


@pytest.mark.realdata
def test_real_dbpedia_books_and_fast_path_equals_rdflib(datasets: Path) -> None:
    path = datasets / "amazon-kg" / "dbpedia-books.nt.gz"
    index = TripleIndex()
    parse_ntriples(path, index, None, RecordPolicy())
    assert index.read == 47_082 and index.fallback == 0
    ours = {(s, p, o) for s, rows in index.by_subject.items() for p, o, _lit in rows}
    g = rdflib.Graph()
    with gzip.open(path, "rb") as fh:
        g.parse(fh, format="nt")
    theirs = {(str(s), str(p), str(o)) for s, p, o in g}
    assert ours == theirs


@pytest.mark.realdata
def test_real_dbpedia_movies_two_hops(datasets: Path) -> None:
    from persona.ingest._recbole import read_link

    links = read_link(datasets / "dbpedia-movies" / "ml-100k.link", RecordPolicy())
    one = read_rdf(datasets / "dbpedia-movies" / "movies.nt.gz", links)
    c = one.counts()
    assert one.stats["linked_items_with_triples"] == 1323
    assert c["STARRING"] == 5849 and c["DIRECTED_BY"] == 1333 and c["Person"] == 6653 and c["Company"] == 186
    assert sum(len(rf.df) for rf in one.rels) == one.stats["rdf_edges"] == 14_717
    one.validate()
