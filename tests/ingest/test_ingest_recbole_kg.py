"""RecBole's own atomic files with a Freebase ``.kg`` (the KB4Rec files): every predicate is a relation.

The files are written here in RecBole's format (headers and values as in RecBole's ``ml-100k`` atomic
dataset: ``rating:float``/``timestamp:float``, ``release_year:token`` holding ``unkonwn`` for one film,
``.kg`` rows ``m.… film.film.actor m.…``, ``.link`` from item ids to Freebase ids), then ingested into
both stores and exported: each predicate keeps its own relationship type, so meta-paths exist per
predicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_testutil import edges, rel, write

from persona.ingest import read_atomic
from persona.ingest.rdf import predicate_map
from persona.kgstore import schema
from persona.kgstore.schema import (
    PREDICATES,
    REL_TYPES,
    PredicateRule,
    adopt_rel_type,
    derive_predicate_rules,
    derive_target,
    rel_type_candidates,
)

# three ratings a user: the first is the training one (leave-one-out), so 196 trained on film 1, 186 on
# film 3 and 22 on film 2
INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "196\t1\t3\t881250949\n196\t267\t4\t881250950\n196\t2\t5\t881250951\n"
    "186\t3\t3\t891717742\n186\t267\t1\t891717743\n186\t1\t4\t891717744\n"
    "22\t2\t1\t878887116\n22\t267\t2\t878887117\n22\t3\t5\t878887118\n"
)
# RecBole's ml-100k.item: the film 267 has the release year "unkonwn" (sic), a token, not a number
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "1\tToy Story\t1995\tAnimation Children's Comedy\n"
    "2\tGoldenEye\t1995\tAction Adventure Thriller\n"
    "3\tFour Rooms\t1995\tThriller\n"
    "267\tunknown\tunkonwn\tunknown\n"
)
USER = (
    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "196\t49\tM\twriter\t55105\n186\t39\tF\texecutive\t00000\n22\t25\tM\twriter\t40206\n"
)
LINK = "item_id:token\tentity_id:token\n1\tm.0dyb1\n2\tm.0hvvf\n3\tm.03vny7\n"
KG = (
    "head_id:token\trelation_id:token\ttail_id:token\n"
    "m.0dyb1\tfilm.film.actor\tm.0h5tq5\n"  # Tom Hanks
    "m.0hvvf\tfilm.film.actor\tm.017r13\n"  # Pierce Brosnan
    "m.03vny7\tfilm.film.actor\tm.0h5tq5\n"
    "m.0dyb1\tfilm.film.directed_by\tm.0bwh6\n"  # John Lasseter
    "m.0hvvf\tfilm.film.directed_by\tm.05s_v\n"  # Martin Campbell
    "m.0dyb1\tfilm.film.genre\tm.0hcr\n"  # animation
    "m.03vny7\tfilm.film.genre\tm.01z4y\n"  # comedy
    "m.0hvvf\tfilm.film.prequel\tm.03vny7\n"  # between two linked films: Item -> Item
    "m.0dyb1\tfilm.film.costume_design_by\tm.0c5tl\n"
    "m.0hcr\tfilm.film_genre.films_in_this_genre\tm.0hvvf\n"  # hop 2: genre -> film
    "m.0h5tq5\tpeople.person.nationality\tm.09c7w0\n"  # hop 2: person -> country
)
FREEBASE = {
    "film.film.actor": ("FILM_ACTOR", "Person"),
    "film.film.directed_by": ("FILM_DIRECTED_BY", "Person"),
    "film.film.genre": ("FILM_GENRE", "Genre"),
    "film.film.prequel": ("FILM_PREQUEL", "Work"),
    "film.film.costume_design_by": ("FILM_COSTUME_DESIGN_BY", "Person"),
    "film.film_genre.films_in_this_genre": ("FILM_GENRE_FILMS_IN_THIS_GENRE", "Work"),
    "people.person.nationality": ("PERSON_NATIONALITY", "Place"),
}


@pytest.fixture
def clean_schema() -> Iterator[None]:
    """Restore the schema's predicate and relationship tables after the test (they are process-wide)."""
    saved = (dict(PREDICATES), dict(schema.DERIVED_PREDICATES), dict(REL_TYPES))
    try:
        yield
    finally:
        for table, old in zip((PREDICATES, schema.DERIVED_PREDICATES, REL_TYPES), saved):
            table.clear()
            table.update(old)  # type: ignore[arg-type]


def ml100k(tmp_path: Path) -> Path:
    d = tmp_path / "ml-100k"
    for ext, text in (("inter", INTER), ("item", ITEM), ("user", USER), ("link", LINK), ("kg", KG)):
        write(d / f"ml-100k.{ext}", text)
    return d


def test_token_fields_stay_strings(tmp_path: Path) -> None:
    gf = read_atomic(ml100k(tmp_path), hops=2)
    items = gf.nodes["Item"].set_index("id")
    assert items.loc["1", ["title", "year"]].tolist() == ["Toy Story", 1995]
    assert items.loc["267", "title"] == "unknown" and items["year"].isna()["267"]  # "unkonwn": no year
    assert gf.stats["tokens_not_numbers"] == {"release_year": 1}
    users = gf.nodes["User"].set_index("id")
    assert users.loc["186", ["age", "gender", "occupation"]].tolist() == [39, "F", "executive"]
    assert set(gf.nodes["Item"]["domain"]) == {"product"}
    assert len(rel(gf, "RATED")) == 9


def test_a_float_year_must_be_a_number(tmp_path: Path) -> None:
    from persona.ingest.errors import InputError

    d = ml100k(tmp_path)
    write(d / "ml-100k.item", ITEM.replace("release_year:token", "release_year:float"))
    with pytest.raises(InputError, match=r"ml-100k\.item:5: expected an integer year, got 'unkonwn'"):
        read_atomic(d)


def test_freebase_predicates_become_relation_types(tmp_path: Path) -> None:
    gf = read_atomic(ml100k(tmp_path), hops=2)
    assert edges(gf, "FILM_ACTOR", "Item", "Person") == {
        ("1", "m.0h5tq5"),
        ("2", "m.017r13"),
        ("3", "m.0h5tq5"),
    }
    assert edges(gf, "FILM_DIRECTED_BY", "Item", "Person") == {("1", "m.0bwh6"), ("2", "m.05s_v")}
    assert edges(gf, "FILM_GENRE", "Item", "Genre") == {("1", "m.0hcr"), ("3", "m.01z4y")}
    assert edges(gf, "FILM_PREQUEL", "Item", "Item") == {("2", "3")}  # the object is a linked film
    assert edges(gf, "FILM_GENRE_FILMS_IN_THIS_GENRE", "Genre", "Item") == {("m.0hcr", "2")}  # hop 2
    assert edges(gf, "PERSON_NATIONALITY", "Person", "Place") == {("m.0h5tq5", "m.09c7w0")}
    assert "RELATED_TO" not in gf.counts() and "Entity" not in gf.nodes
    # nothing merged into the DBpedia table's types; HAS_GENRE holds the .item's class tokens only
    assert not {"DIRECTED_BY", "STARRING"} & set(gf.counts())
    assert {g for _i, g in edges(gf, "HAS_GENRE")} == {
        "Animation", "Children's", "Comedy", "Action", "Adventure", "Thriller", "unknown"
    }  # fmt: skip
    rows = {p: (t, lab) for p, t, lab, _n in predicate_map(gf.stats)}
    assert rows == FREEBASE
    assert {p: n for p, _t, _l, n in predicate_map(gf.stats)}["film.film.actor"] == 3
    assert gf.stats["unknown_predicates"]["film.film.actor"] == 3
    gf.validate()


def test_config_overrides_a_kg_predicate(tmp_path: Path, clean_schema: None) -> None:
    from persona import workflows
    from persona.config import IngestSettings, Settings

    d = ml100k(tmp_path)
    read_atomic(d, hops=2)  # derived first: the configured rule must still win
    settings = Settings(ingest=IngestSettings(predicates={"film.film.actor": ["STARRING", "Person"]}))
    workflows.apply_predicates(settings)
    gf = read_atomic(d, hops=2)
    assert edges(gf, "STARRING", "Item", "Person") == {
        ("1", "m.0h5tq5"),
        ("2", "m.017r13"),
        ("3", "m.0h5tq5"),
    }
    assert "FILM_ACTOR" not in gf.counts()
    assert ("film.film.actor", "STARRING", "Person", 3) in predicate_map(gf.stats)
    assert "film.film.actor" not in gf.stats["unknown_predicates"]


def test_ingest_into_the_store_and_per_predicate_metapaths(tmp_path: Path, store) -> None:
    from persona.learn.export import export_graph
    from persona.learn.metapaths import MetaPathBuilder, default_metapaths, resolve_metapaths

    frames = read_atomic(ml100k(tmp_path), hops=2)
    store.load(frames)
    counts = store.counts()
    stored = {**counts["nodes"], **counts["rels"]}
    assert stored == {k: v for k, v in frames.counts().items() if v}  # every parsed row, on either backend
    assert counts["rels"]["FILM_ACTOR"] == 3 and counts["rels"]["FILM_PREQUEL"] == 1
    rows = store.run(
        "MATCH (i:Item)-[:FILM_DIRECTED_BY]->(p:Person) RETURN i.id AS item, p.id AS who ORDER BY item"
    )
    assert [(r["item"], r["who"]) for r in rows] == [("1", "m.0bwh6"), ("2", "m.05s_v")]
    assert not any(store.load(frames).values())  # a second load writes nothing

    data, maps = export_graph(store)
    assert {
        ("Item", t, "Person") for t in ("FILM_ACTOR", "FILM_DIRECTED_BY", "FILM_COSTUME_DESIGN_BY")
    } <= set(data.edge_types)
    names = [mp.name for mp in default_metapaths(data)]
    assert {"U-I-Person", "U-I-Genre", "U-I-Person-I-U", "U-I-I-U"} <= set(names)
    actor, director = resolve_metapaths(
        data, ["U-I-Person[FILM_ACTOR]-I-U", "U-I-Person[FILM_DIRECTED_BY]-I-U"]
    )
    builder = MetaPathBuilder(data, max_sample=None, hub_quantile=1.0)
    users = maps.index("User")
    by_actor = builder.edges(actor).edge_index
    # Tom Hanks plays in films 1 and 3, so their (training) viewers 196 and 186 meet; 22 saw film 2 only
    assert {(users[int(a)], users[int(b)]) for a, b in by_actor.T} == {("196", "186"), ("186", "196")}
    assert builder.edges(director).num_edges == 0  # no director made two of these films


# ------------------------------------------------------------------ the derivation rule


def test_type_names_from_predicates() -> None:
    assert rel_type_candidates("film.film.directed_by") == ["FILM_DIRECTED_BY"]
    assert rel_type_candidates("film.director.film") == ["DIRECTOR_FILM", "FILM_DIRECTOR_FILM"]
    assert rel_type_candidates("http://schema.org/director") == ["DIRECTOR", "SCHEMA_DIRECTOR"]
    assert rel_type_candidates("http://dbpedia.org/property/musicComposer") == [
        "MUSIC_COMPOSER",
        "DBPEDIA_MUSIC_COMPOSER",
    ]
    assert rel_type_candidates("http://www.wikidata.org/prop/direct/P57") == ["P57", "WIKIDATA_P57"]
    assert rel_type_candidates("http://example.org/genre")[0] == "HAS_GENRE"  # GENRE would spell Genre
    assert rel_type_candidates("http://example.org/2nd") == ["P_2ND", "EXAMPLE_2ND"]
    assert rel_type_candidates("http://example.org/--") == []


def test_target_labels_from_predicates() -> None:
    assert derive_target("film.film.actor") == "Person"
    assert derive_target("film.film.directed_by") == "Person"
    assert derive_target("film.film.production_companies") == "Company"
    assert derive_target("film.film.featured_film_locations") == "Place"
    assert derive_target("film.film_genre.films_in_this_genre") == "Work"  # the head word, not "genre"
    assert derive_target("film.film.award_nomination") == "Award"
    assert derive_target("film.film.costume_design_by") == "Person"
    assert derive_target("film.film.language") == "Language"
    assert derive_target("http://example.org/mood") == "Entity"
    assert derive_target("film.film.rating") == "Entity"


def test_collisions_never_merge_two_predicates(clean_schema: None) -> None:
    preds = [
        "http://schema.org/director",
        "http://dbpedia.org/property/director",
        "http://example.org/director",
    ]
    first = derive_predicate_rules(preds)
    assert {p: r.rel_type for p, r in first.items()} == {
        "http://schema.org/director": "SCHEMA_DIRECTOR",
        "http://dbpedia.org/property/director": "DBPEDIA_DIRECTOR",
        "http://example.org/director": "EXAMPLE_DIRECTOR",
    }  # all three wanted DIRECTOR, so none has it
    assert all(r.target == "Person" for r in first.values())
    assert derive_predicate_rules(reversed(preds)) == first  # stable, whatever the order
    # a table type is never reused (DIRECTED_BY is dbo:director's) ...
    assert derive_predicate_rules(["http://a.example/directed_by"])[
        "http://a.example/directed_by"
    ].rel_type == ("EXAMPLE_DIRECTED_BY")
    # ... but what this process derived earlier reserves nothing: a derivation is the same in every
    # process, whatever ran before it (separate ingests whose predicates derive one name share its type)
    assert derive_predicate_rules(["http://b.example/directed_by"])[
        "http://b.example/directed_by"
    ].rel_type == ("EXAMPLE_DIRECTED_BY")
    # the same name twice, with nothing to tell them apart: numbered in sorted order
    twins = derive_predicate_rules(["https://c.example/x/dup", "http://c.example/x/dup"])
    assert {p: r.rel_type for p, r in twins.items()} == {
        "http://c.example/x/dup": "X_DUP_2",
        "https://c.example/x/dup": "X_DUP_3",
    }
    assert derive_predicate_rules(["http://example.org/--"])["http://example.org/--"] == PredicateRule(
        "RELATED_TO", "Entity"
    )
    labels = {lab.lower() for lab in schema.NODE_TYPES}
    assert not [t for t in REL_TYPES if t.lower() in labels]


def test_store_types_are_adopted_by_name(clean_schema: None) -> None:
    assert adopt_rel_type("FILM_ACTOR_SEEN_IN_A_STORE") in REL_TYPES
    assert adopt_rel_type("RATED") == "RATED"
    for bad in ("film_actor", "PERSON", "A-B", ""):
        with pytest.raises(ValueError):
            adopt_rel_type(bad)


def test_cli_prints_the_mapping_and_takes_overrides(tmp_path: Path, clean_schema: None) -> None:
    from typer.testing import CliRunner

    from persona.cli import app

    d = ml100k(tmp_path)
    cfg = write(
        tmp_path / "persona.toml", '[ingest.predicates]\n"film.film.actor" = ["STARRING", "Person"]\n'
    )
    uri = f"embedded:{tmp_path / 'kg.db'}"
    res = CliRunner().invoke(
        app, ["ingest", "atomic", str(d), "--hops", "2", "--store", uri, "--config", str(cfg), "--quiet"],
        env={"COLUMNS": "200"}, catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = [" ".join(line.replace("│", " ").split()) for line in res.output.splitlines()]
    assert "predicates → relationship types" in lines
    assert "film.film.actor STARRING Person 3 config" in lines  # the configured rule
    assert "film.film.directed_by FILM_DIRECTED_BY Person 2 derived" in lines
    assert "film.film_genre.films_in_this_genre FILM_GENRE_FILMS_IN_THIS_GENRE Work 1 derived" in lines
    assert not any(line.startswith("predicate_types") for line in lines)  # not repeated among the notes
