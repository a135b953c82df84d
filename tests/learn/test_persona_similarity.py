"""Stored personas discriminate users: centred geometry, planted-taste neighbours, sessions in the same frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from persona.config import Settings
from persona.kgstore import open_store
from persona.learn.diagnostics import (
    cosine_neighbours,
    mean_pair_cosine,
    neighbour_overlap_lift,
    persona_geometry,
    planted_taste_precision,
    taste_precision,
    user_activity,
)
from persona.learn.export import export_graph
from persona.learn.hdgi import PersonaModel, train_hdgi
from persona.learn.personas import infer_persona, load_persona_model, train_personas
from persona.learn.summaries import training_histories

from .conftest import small_settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A planted-taste demo store (300 users, 160 items, 4 tastes, 15–40 items each) with personas written back.

    Its histories allow about 0.92: each user's training-item taste histogram, a no-learning oracle of the
    planted item tastes, reaches top-10 taste precision 0.916.
    """
    from persona.ingest.demo import generate_demo

    tmp = tmp_path_factory.mktemp("similarity")
    s = Settings(store=f"embedded:{tmp / 'kg.db'}", workdir=tmp / "work")
    s.hdgi = small_settings(epochs=40, hidden=32, heads=4)
    # personas from every training item, as the oracle above (the retriever's leakage guard, which holds
    # each user's last 3 back, is tested in tests/rec/test_persona_lag.py; with it this store gives 0.89)
    s.rec = s.rec.model_copy(update={"persona_lag": 0})
    store = open_store(s.store)
    store.init_schema()
    store.load(generate_demo(users=300, items=160, tastes=4, seed=3, history=(15, 40)))
    res = train_personas(store, s, workdir=s.workdir)
    yield s, store, res
    store.close()


def _stored(store, ids: list[str]) -> np.ndarray:
    rows = {r["id"]: r["p"] for r in store.run("MATCH (u:User) RETURN u.id AS id, u.persona AS p")}
    return np.asarray([rows[u] for u in ids], dtype=np.float64)


def test_stored_personas_are_centred_and_separate_tastes(trained) -> None:
    _, store, res = trained
    ids = list(res.user_ids)
    vecs = _stored(store, ids)
    np.testing.assert_allclose(vecs, res.personas, atol=1e-6)
    np.testing.assert_allclose(vecs.mean(0), 0.0, atol=1e-5)  # centred on the training users' mean
    assert mean_pair_cosine(vecs) <= 0.5
    geo = persona_geometry(vecs, user_activity(store, ids))
    assert geo["mean_to_spread"] < 0.01 and abs(geo["mean_pair_cosine"]) < 0.05
    assert planted_taste_precision(store, ids, vecs, k=10) >= 0.9


def test_uncentred_personas_collapse(trained) -> None:
    """The pre-fix training (centre=False) on the same graph: every persona is mostly one shared vector."""
    s, store, _ = trained
    data, _ = export_graph(store)
    old = train_hdgi(data, s.hdgi, seed=0, centre=False)
    geo = persona_geometry(old.personas)
    assert geo["mean_pair_cosine"] > 0.6 and geo["mean_to_spread"] > 1.0
    np.testing.assert_allclose(old.model.encoder.offset.numpy(), 0.0)


def test_sessions_land_next_to_their_user(trained) -> None:
    """infer_persona of a user's training items applies the same centring: nearest to that user's persona."""
    s, store, res = trained
    ids = list(res.user_ids)
    vecs = _stored(store, ids)
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    hist = training_histories(store)
    model = load_persona_model(s.workdir, res.run_id)
    np.testing.assert_allclose(model.encoder.offset.numpy(), res.model.encoder.offset.numpy())
    assert float(np.linalg.norm(model.encoder.offset)) > 0.1  # a real shared component was removed
    rng = np.random.default_rng(0)
    own, others, rank = [], [], []
    for n in rng.choice(len(ids), 30, replace=False):
        v = infer_persona(s, hist[ids[n]], run_id=res.run_id)
        c = unit @ (v / np.linalg.norm(v))
        own.append(c[n])
        others.append(np.delete(c, n).mean())
        rank.append(int((c > c[n]).sum()))  # 0: the user's own persona is the nearest
    assert min(own) > 0.8 and max(others) < 0.3  # random users are near-orthogonal, the own persona is not
    # users of one planted taste are close to each other; the own persona is still among the very nearest
    assert max(rank) < 0.05 * len(ids) and np.mean(np.array(rank) == 0) >= 0.6


def test_model_files_without_offset_load_uncentred(trained, tmp_path: Path) -> None:
    """A model saved before centring (no ``offset`` in its weights) keeps giving the personas it stored."""
    import torch

    res = trained[2]
    path = res.model.save(tmp_path / "model.pt")
    blob = torch.load(path, weights_only=True)
    del blob["state"]["offset"]
    torch.save(blob, tmp_path / "old.pt")
    old = PersonaModel.load(tmp_path / "old.pt")
    np.testing.assert_allclose(old.encoder.offset.numpy(), 0.0)
    h, _ = old.embed_users()
    np.testing.assert_allclose(h.numpy(), res.personas + res.model.encoder.offset.numpy(), atol=1e-5)


def test_similarity_helpers() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    blobs = np.eye(8)[labels] * 3 + rng.normal(size=(100, 8)) * 0.1
    assert taste_precision(blobs, labels, k=10) == 1.0
    assert abs(mean_pair_cosine(rng.normal(size=(500, 16)))) < 0.02
    shifted = persona_geometry(blobs + 20.0, np.arange(1, 101))
    assert shifted["mean_pair_cosine"] > 0.95 and shifted["mean_to_spread"] > 10
    nb = cosine_neighbours(blobs, 5)
    assert nb.shape == (100, 5) and not (nb == np.arange(100)[:, None]).any()
    # row blocks are a memory bound, not part of the answer: 7-row blocks give the same neighbours
    nb7, sc7 = cosine_neighbours(blobs, 5, chunk=7, return_scores=True)
    assert np.array_equal(nb7, nb) and np.allclose(sc7, cosine_neighbours(blobs, 5, return_scores=True)[1])
    with pytest.raises(ValueError, match="100 vectors but 3 labels"):
        taste_precision(blobs, [0, 1, 2])


def test_neighbour_overlap_lift_on_genres(trained) -> None:
    _, store, res = trained
    rep = neighbour_overlap_lift(store, res.user_ids, res.personas, rels=("HAS_GENRE",), k=10, draws=5)
    g = rep["HAS_GENRE"]
    assert g["users"] == len(res.user_ids) and rep["k"] == 10
    for name in ("share", "coverage"):
        assert 0.0 < g[name]["random"] <= 1.0 and g[name]["lift"] == pytest.approx(
            g[name]["neighbours"] / g[name]["random"]
        )
    # planted tastes drive genres: a user's nearest users read the genres of its held-out books more
    assert g["share"]["lift"] > 1.1
    with pytest.raises(ValueError, match="no Item -\\[DIRECTED_BY\\]-> edges"):
        neighbour_overlap_lift(store, res.user_ids, res.personas, rels=("DIRECTED_BY",))
