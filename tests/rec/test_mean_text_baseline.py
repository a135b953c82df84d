"""The baseline a persona must beat: the mean text vector of the user's training items, as a retriever row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from persona.config import RecSettings
from persona.errors import ConfigError
from persona.pipeline import parse_variants
from persona.rec import Interactions, run_experiment
from persona.rec.inputs import mean_text_vectors

from .synth import chain_frame


def test_mean_text_uses_training_items_only() -> None:
    inter = pd.DataFrame({
        "user": ["a", "a", "a", "a", "b", "b"],
        "item": ["x", "y", "v", "t", "x", "z"],
        "split": ["train", "train", "valid", "test", "train", "train"],
    })
    text = {"x": np.array([1.0, 0.0]), "y": np.array([0.0, 1.0]), "v": np.array([9.0, 9.0]),
            "t": np.array([-9.0, 5.0])}  # b's "z" has no text
    got = mean_text_vectors(inter, text)
    assert set(got) == {"a", "b"}
    assert np.allclose(got["a"], [0.5, 0.5])  # the valid and test items never enter
    assert np.allclose(got["b"], [1.0, 0.0]) and got["a"].dtype == np.float32
    assert mean_text_vectors(inter, {}) == {}


def test_meantext_is_a_row_of_the_experiment(tmp_path: Path) -> None:
    assert parse_variants("none/random,meantext/text") == [("none", "random"), ("meantext", "text")]
    with pytest.raises(ConfigError, match="meantext"):
        parse_variants("mean/text")
    df = chain_frame(n_users=60, n_items=20, seed=1)
    chain = Interactions.from_frame(df)
    text = {i: np.random.default_rng(0).normal(size=8).astype(np.float32) for i in chain.items}
    frame = pd.DataFrame({"user": df["user"], "item": df["item"], "split": df["split"]})
    users = mean_text_vectors(frame, text)
    s = RecSettings(epochs=2, eval_every=1, patience=2, hidden=8, blocks=1, candidates=10)
    run_experiment(chain, {"meantext": users}, text, s, seeds=[0], out_dir=tmp_path,
                   variants=[("none", "random"), ("meantext", "text")])
    per_seed = pd.read_csv(tmp_path / "results.csv")
    rows = per_seed[per_seed["user_emb"] == "meantext"]
    assert sorted(rows["stage"]) == ["final", "reranked", "retriever"]
    assert "| Mean item text | Description (LLM) |" in (tmp_path / "results.md").read_text()
