"""A small trained store for the explorer tests: personas, attention, summaries and RECOMMENDED lists.

Built the way the pipeline writes it: GraphFrames loaded into an embedded store, then write-back with
``set_node_properties`` and a RECOMMENDED load.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from persona.kgstore import GraphFrames, GraphStore, open_store

TITLES = {
    "i01": "Blazing Saddles",
    "i02": "Young Frankenstein",
    "i03": "The Producers",
    "i04": "Spaceballs",
    "i05": "High Anxiety",
    "i06": "Silent Movie",
    "i07": "Airplane!",
    "i08": "The Naked Gun",
    "i09": "Hot Shots!",
    "i10": "Top Secret!",
    "i11": "Schindler's List",
    "i12": "The Piano",
}
#: u1's history in order: four training items, then validation, then the held-out test item.
U1_HISTORY = [("i01", "train"), ("i02", "train"), ("i03", "train"), ("i04", "train"), ("i05", "valid"), ("i06", "test")]
#: u1's newest run: the held-out test item i06 is at rank 3.
U1_RECS = [("i07", 0.91), ("i08", 0.84), ("i06", 0.77), ("i09", 0.52), ("i10", 0.31)]
#: The reasons written with u1's newest list (persona/explain.py's compact form): Airplane! is viewed
#: together with Blazing Saddles; The Naked Gun shares the Parody genre (and a similar user); Silent Movie
#: is Mel Brooks's; Top Secret! has no path.
U1_WHY = {
    "i07": ("viewed together with “Blazing Saddles”", [["item", 8.2, "i01", "ALSO_VIEW"]]),
    "i08": ("in the genre Parody, like “Spaceballs”, “Blazing Saddles”",
            [["entity", 1.2, "i04", "HAS_GENRE", "g:parody"], ["users", 0.9, 1, 3]]),
    "i06": ("directed by Mel Brooks, like “Spaceballs”, “The Producers” and 2 more",
            [["entity", 0.9, "i04", "DIRECTED_BY", "p:brooks"]]),
    "i09": ("in the genre Parody, like “Spaceballs”", [["entity", 1.1, "i04", "HAS_GENRE", "g:parody"]]),
    "i10": ("no graph path: ranked from the session sequence", []),
}
U1_ATTENTION = {"U-I-Genre-I-U": 0.55, "U-I-Person-I-U": 0.35, "U-I-U": 0.10}
U1_SUMMARY = "Likes Mel Brooks parodies and absurd comedy."
PERSONAS = {
    "u1": [1.0, 0.0, 0.1, 0.0],
    "u2": [0.9, 0.1, 0.1, 0.0],  # most similar to u1
    "u3": [0.7, 0.5, 0.0, 0.1],
    "u4": [0.0, 0.1, 1.0, 0.9],  # the drama fan, least similar
}


def fixture_frames() -> GraphFrames:
    """Users, items, attributes and interactions, as an ingest would hand them over."""
    g = GraphFrames()
    g.add_nodes("User", pd.DataFrame({"id": ["u1", "u2", "u3", "u4", "u5"]}))
    g.add_nodes(
        "Item",
        pd.DataFrame({"id": list(TITLES), "title": list(TITLES.values()), "domain": "movie"}),
    )
    g.add_nodes("Genre", pd.DataFrame({"id": ["g:comedy", "g:parody", "g:drama"], "name": ["Comedy", "Parody", "Drama"]}))
    g.add_nodes("Person", pd.DataFrame({"id": ["p:brooks", "p:zucker"], "name": ["Mel Brooks", "David Zucker"]}))
    rated = [
        {"src": "u1", "dst": i, "rating": 5.0 - n * 0.5, "ts": 100 + n, "pos": n, "split": s}
        for n, (i, s) in enumerate(U1_HISTORY)
    ]
    for user, items in {
        "u2": ["i01", "i02", "i07", "i08"],
        "u3": ["i03", "i09", "i10", "i11"],
        "u4": ["i11", "i12", "i05"],
        "u5": ["i02", "i04"],
    }.items():
        n_items = len(items)
        for n, item in enumerate(items):
            split = "train" if n_items < 3 or n < n_items - 2 else ("valid" if n == n_items - 2 else "test")
            rated.append({"src": user, "dst": item, "rating": 4.0, "ts": 200 + n, "pos": n, "split": split})
    g.add_rels("RATED", "User", "Item", pd.DataFrame(rated))
    genre = [(f"i{k:02d}", "g:comedy") for k in range(1, 11)] + [("i11", "g:drama"), ("i12", "g:drama")]
    genre += [(i, "g:parody") for i in ("i01", "i04", "i07", "i08", "i09")]
    g.add_rels("HAS_GENRE", "Item", "Genre", pd.DataFrame(genre, columns=["src", "dst"]))
    directed = [(i, "p:brooks") for i in ("i01", "i02", "i03", "i04", "i05", "i06")]
    directed += [(i, "p:zucker") for i in ("i07", "i08", "i10")]
    g.add_rels("DIRECTED_BY", "Item", "Person", pd.DataFrame(directed, columns=["src", "dst"]))
    g.add_rels("ALSO_VIEW", "Item", "Item", pd.DataFrame({"src": ["i01"], "dst": ["i07"]}))
    return g


def load_fixture(store: GraphStore) -> None:
    """Load :func:`fixture_frames`, then write back personas and RECOMMENDED lists as training does."""
    store.init_schema()
    store.load(fixture_frames())
    store.set_node_properties(
        "User",
        pd.DataFrame(
            {
                "id": list(PERSONAS),
                "persona": list(PERSONAS.values()),
                "persona_attention": [json.dumps(U1_ATTENTION)] + [json.dumps({"U-I-U": 1.0})] * 3,
                "persona_run": "run-2",
                "persona_model": "hdgi",
                "llm_summary": [U1_SUMMARY, "Airplane-style spoofs.", "Comedy, some drama.", "Serious drama."],
                "llm_summary_source": ["extractive", "llm:Qwen/Qwen3-8B", "extractive", "extractive"],
            }
        ),
    )
    store.create_vector_index("User", "persona", len(PERSONAS["u1"]))
    recs = GraphFrames()
    rows = [{"src": "u1", "dst": i, "rank": r, "score": s, "run": "run-2", "reason": U1_WHY[i][0],
             "why": json.dumps(U1_WHY[i][1])} for r, (i, s) in enumerate(U1_RECS, 1)]
    # an older run with another order: the page must show the newest run by default
    rows += [{"src": "u1", "dst": i, "rank": r, "score": 1.0 / r, "run": "run-1"} for r, i in enumerate(["i12", "i11"], 1)]
    rows += [{"src": "u2", "dst": "i09", "rank": 1, "score": 0.5, "run": "run-2"}]
    recs.add_rels("RECOMMENDED", "User", "Item", pd.DataFrame(rows))
    store.load(recs)


def build_store(path: Path) -> str:
    """Write the fixture graph into a new embedded store at ``path``; return its URI."""
    uri = f"embedded:{path}"
    store = open_store(uri)
    try:
        load_fixture(store)
    finally:
        store.close()
    return uri


@pytest.fixture
def trained_store(tmp_path: Path) -> str:
    """URI of a fresh embedded store holding the fixture graph."""
    return build_store(tmp_path / "kg.db")


@pytest.fixture
def trained(store: GraphStore) -> GraphStore:
    """The fixture graph in the ``store`` fixture's backend (embedded, and Neo4j when NEO4J_URI is set)."""
    load_fixture(store)
    return store


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A small generated store trained end to end by ``pipeline.train`` (few epochs): ``(uri, workdir)``.

    Everything the explorer reads from a real run is there: Run node, personas, SIMILAR, HELD_OUT and
    RECOMMENDED with reasons, and the model files a session needs.
    """
    from persona import pipeline
    from persona.config import load_settings
    from persona.ingest import generate_demo
    from persona.workflows import load_frames

    tmp = tmp_path_factory.mktemp("demo-run")
    work = tmp / "work"
    s = load_settings(None, store=f"embedded:{tmp / 'demo.db'}", workdir=str(work))
    s.rec = s.rec.model_copy(update={"epochs": 2, "hidden": 32, "blocks": 1, "eval_every": 1})
    s.hdgi = s.hdgi.model_copy(update={"epochs": 5, "hidden": 32})
    load_frames(s, lambda: generate_demo(users=120, items=80, seed=0))
    pipeline.train(s)
    return s.store, work
