"""Persona diagnostics: planted-taste NMI on generated data, held-out genre prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from persona.config import Settings
from persona.kgstore import open_store
from persona.learn.diagnostics import heldout_genre_report, kmeans_nmi, planted_taste_report, random_vectors
from persona.learn.export import export_graph
from persona.learn.hdgi import train_hdgi
from persona.learn.personas import train_personas

from .conftest import small_settings


def test_kmeans_nmi_bounds() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    blobs = rng.normal(size=(200, 8)) * 0.05 + np.eye(8)[labels] * 5
    assert kmeans_nmi(blobs, labels) == pytest.approx(1.0)
    assert kmeans_nmi(random_vectors(200, 8, seed=1), labels) < 0.05
    with pytest.raises(ValueError, match="200 vectors but 3 labels"):
        kmeans_nmi(blobs, [0, 1, 2])


@pytest.mark.slow
def test_personas_recover_planted_tastes(tmp_path: Path) -> None:
    """Demo data: personas cluster by planted taste; random vectors do not; random item text is worse."""
    from persona.ingest.demo import generate_demo

    s = Settings(store=f"embedded:{tmp_path / 'kg.db'}", workdir=tmp_path / "work")
    s.hdgi = s.hdgi.model_copy(update={"epochs": 60})
    store = open_store(s.store)
    store.init_schema()
    store.load(generate_demo(users=600, items=320, tastes=6, seed=0))
    res = train_personas(store, s, workdir=s.workdir)
    data, _ = export_graph(store, lag=s.rec.persona_lag)  # the graph the personas were learned from
    ablation = train_hdgi(data, s.hdgi.model_copy(update={"item_features": "random"}), seed=0)
    assert ablation.user_ids == res.user_ids
    rep = planted_taste_report(store, res.user_ids, res.personas, ablation=ablation.personas)
    store.close()
    assert rep["users"] == 600
    assert rep["personas"] >= 0.6
    assert rep["random"] <= 0.05
    assert rep["random_item_features"] < rep["personas"]


def test_heldout_genre_report(settings, demo_frames, demo_data) -> None:
    store = open_store(settings.store)
    store.init_schema()
    store.load(demo_frames)
    data, _maps = demo_data
    r = train_hdgi(data, small_settings(epochs=20), seed=0)
    rep = heldout_genre_report(store, r.user_ids, r.personas, seed=0)
    store.close()
    assert rep["users"] == 120 and rep["classes"] >= 8
    for name in ("personas", "random", "bag_of_items"):
        assert set(rep[name]) == {"top1_hit", "dominant_accuracy", "dominant_macro_f1"}
        assert all(0.0 <= v <= 1.0 for v in rep[name].values())
    # held-out items follow the user's taste: what the user read predicts them better than noise
    assert rep["bag_of_items"]["top1_hit"] > rep["random"]["top1_hit"]
    assert rep["personas"]["top1_hit"] > rep["random"]["top1_hit"]


def test_planted_report_needs_generated_data(settings) -> None:
    store = open_store(settings.store)
    store.init_schema()
    import pandas as pd

    from persona.kgstore import GraphFrames

    g = GraphFrames()
    g.add_nodes("User", pd.DataFrame({"id": ["u"]}))
    store.load(g)
    with pytest.raises(ValueError, match="needs a generated graph"):
        planted_taste_report(store, ["u"], np.zeros((1, 4), dtype=np.float32))
    store.close()
