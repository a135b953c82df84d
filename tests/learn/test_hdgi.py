"""HDGI training, resumption, sensitivity to item text, inductive inference, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from persona.config import HDGISettings
from persona.errors import ConfigError, ModelError, NotFoundError
from persona.learn.hdgi import (
    HDGI,
    HDGIEncoder,
    Neighbourhoods,
    PersonaModel,
    SemanticAttention,
    TrainState,
    train_hdgi,
    user_text_view,
)
from persona.learn.hdgi.semantic_attention import channel_shares
from persona.learn.metapaths import parse_metapath

from .conftest import small_settings


def test_training_is_seeded_and_resumes_from_checkpoint(demo_data, tmp_path: Path) -> None:
    data, _ = demo_data
    straight = train_hdgi(data, small_settings(epochs=6), seed=1)
    assert len(straight.losses) == 6 and np.isfinite(straight.losses).all()
    again = train_hdgi(data, small_settings(epochs=6), seed=1)
    np.testing.assert_array_equal(again.personas, straight.personas)

    first = train_hdgi(data, small_settings(epochs=3), seed=1, checkpoint_dir=tmp_path, checkpoint_every=1)
    assert (tmp_path / "hdgi.pt").is_file() and len(first.losses) == 3
    resumed = train_hdgi(data, small_settings(epochs=6), seed=1, checkpoint_dir=tmp_path)
    assert resumed.run_id == first.run_id  # the same run, continued
    assert resumed.extra["epochs_run"] == 6 and len(resumed.losses) == 6
    assert resumed.losses[:3] == first.losses
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-5)
    np.testing.assert_allclose(resumed.personas, straight.personas, atol=1e-5)

    other = train_hdgi(data, small_settings(epochs=6, lr=1e-3), seed=1, checkpoint_dir=tmp_path)
    assert other.run_id != first.run_id and len(other.losses) == 6  # other settings: a fresh run


def test_result_fields(demo_data) -> None:
    data, maps = demo_data
    r = train_hdgi(data, small_settings(epochs=4), seed=0)
    assert r.user_ids == list(maps.ids["User"]) and r.personas.shape == (len(r.user_ids), 16)
    names = [
        "U-I",
        "U-I-Brand",
        "U-I-Category",
        "U-I-Genre",
        "U-I-Person",
        "U-I-U",
        "U-I-I-U",
        "U-I-Brand-I-U",
        "U-I-Category-I-U",
        "U-I-Genre-I-U",
        "U-I-Person-I-U",
    ]
    assert list(r.attention) == names
    assert sum(r.attention.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(list(a) == names and sum(a.values()) == pytest.approx(1.0, abs=2e-3) for a in r.user_attention)
    assert r.extra["metapath_edges"]["U-I"] == data["User", "RATED", "Item"].num_edges


def test_minibatches_compute_the_full_graph_encoding(demo_data) -> None:
    data, _ = demo_data
    r = train_hdgi(data, small_settings(epochs=2), seed=0)
    pm = r.model
    full = torch.from_numpy(r.personas)
    pm._cache = None
    h, _ = pm.embed_users(batch_users=17)  # 120 users in 8 uneven batches
    torch.testing.assert_close(h, full, atol=1e-5, rtol=1e-5)
    # the typed full-graph forward gives the same users (β recomputed over all users, as in training)
    x = pm.encoder.inputs(pm.features)
    ei = {(mp.end, mp.name, "User"): pm.builder.edges(mp).edge_index for mp in pm.metapaths}
    torch.testing.assert_close(pm.encoder(x, ei), full, atol=1e-5, rtol=1e-5)



def test_chunked_embedding_gives_whole_graph_beta_and_shares(demo_data) -> None:
    """β and the channel shares are summed a chunk of users at a time; the same as over all users at once."""
    data, _ = demo_data
    pm = train_hdgi(data, small_settings(epochs=2), seed=0).model
    x = pm.encoder.inputs(pm.features)
    chans = pm.encoder.channels(x, pm.neighbourhoods().full())
    fused, beta = pm.encoder.semantic(chans)  # β from every user's channels at once
    pm._cache, pm._beta = None, None
    h, info = pm.embed_users(batch_users=17)
    torch.testing.assert_close(info["beta"], beta, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(info["shares"], channel_shares(chans, beta), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, pm.encoder.output(fused), atol=1e-5, rtol=1e-5)
    assert "channels" not in info  # the [P, N, hidden] channels are not kept

def test_personas_follow_item_text(demo_data) -> None:
    data, _ = demo_data
    r = train_hdgi(
        data, small_settings(epochs=3, metapaths=["U-I", "U-I-Genre", "U-I-U"], max_sample=3), seed=0
    )
    pm = r.model
    item = 5
    feats = {k: v.clone() for k, v in pm.features.items()}
    feats["Item"][item] = -feats["Item"][item]
    feats["User"] = user_text_view(feats["Item"], pm.builder.hop("User", "Item", None))
    changed_model = PersonaModel(
        pm.encoder, pm.data, pm.metapaths, feats, pm.settings, pm.run_id, beta=pm.beta
    )
    before, _ = pm.embed_users()
    after, _ = changed_model.embed_users()
    changed = set(torch.nonzero((after - before).abs().max(1).values > 1e-6).view(-1).tolist())
    # expected: the item's raters (text view and U-I) and their neighbours on user-user meta-paths
    rated = data["User", "RATED", "Item"].edge_index
    raters = set(rated[0, rated[1] == item].tolist())
    expected = set(raters)
    for mp in pm.metapaths:
        if mp.homogeneous:
            ei = pm.builder.edges(mp).edge_index
            expected |= set(ei[1, torch.isin(ei[0], torch.tensor(sorted(raters)))].tolist())
    assert raters and changed == expected
    assert len(changed) < data["User"].num_nodes  # and nobody else moved


def test_inferred_persona_of_a_known_history(demo_data) -> None:
    data, maps = demo_data
    mps = ["U-I", "U-I-Genre", "U-I-Person"]
    r = train_hdgi(data, small_settings(epochs=4, metapaths=mps, user_init="zeros", max_sample=1000), seed=0)
    rated = data["User", "RATED", "Item"].edge_index
    for u in (0, 7, 42):
        items = maps.to_ids("Item", rated[1, rated[0] == u])
        # heterogeneous paths only, no free embedding, no cap: the session is the user
        np.testing.assert_allclose(r.infer_persona(items), r.personas[u], atol=1e-5)
    with pytest.raises(NotFoundError, match="none of its 2 items is in the trained graph"):
        r.infer_persona(["nope", "nada"])


def test_inferred_persona_with_user_user_paths(demo_data, tmp_path: Path) -> None:
    data, maps = demo_data
    r = train_hdgi(data, small_settings(epochs=4), seed=0)
    rated = data["User", "RATED", "Item"].edge_index
    sessions = [maps.to_ids("Item", rated[1, rated[0] == u]) for u in range(10)]
    inferred = r.model.infer_personas(sessions)
    cos = (
        (inferred * r.personas[:10]).sum(1)
        / np.linalg.norm(inferred, axis=1)
        / np.linalg.norm(r.personas[:10], axis=1)
    )
    assert cos.min() > 0.9  # the session of a known history lands next to that user's persona
    path = r.model.save(tmp_path / "model.pt")
    loaded = PersonaModel.load(path)
    np.testing.assert_allclose(loaded.infer_personas(sessions), inferred, atol=1e-6)
    np.testing.assert_allclose(loaded.embed_users()[0].numpy(), r.personas, atol=1e-6)
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="bad.pt: not a readable persona-kg HDGI model file"):
        PersonaModel.load(tmp_path / "bad.pt")


def test_random_item_features_ablation_changes_inputs(demo_data) -> None:
    data, _ = demo_data
    text = train_hdgi(data, small_settings(epochs=1), seed=0)
    rand = train_hdgi(data, small_settings(epochs=1, item_features="random"), seed=0)
    assert not torch.allclose(text.model.features["Item"], rand.model.features["Item"])
    torch.testing.assert_close(rand.model.features["Item"].norm(dim=1), torch.ones(data["Item"].num_nodes))


def test_bad_settings_are_refused(demo_data) -> None:
    data, _ = demo_data
    with pytest.raises(ConfigError, match="divisible by heads"):
        train_hdgi(data, small_settings(hidden=10, heads=4))
    with pytest.raises(ValueError, match="label 'Award' is not in the graph"):
        train_hdgi(data, small_settings(metapaths=["U-I-Award"]))
    with pytest.raises(ConfigError, match="user_init"):
        HDGIEncoder({"User": 4}, 3, [parse_metapath("U-I-U")], user_init="ones")
    with pytest.raises(ConfigError, match="no features"):
        HDGIEncoder({"User": 4}, 3, [parse_metapath("U-I")])
    with pytest.raises(ConfigError, match="batch_users must be >= 1"):
        train_hdgi(data, small_settings(), batch_users=0)
    with pytest.raises(TypeError, match="HDGISettings"):
        train_hdgi(data, small_settings().model_dump())  # type: ignore[arg-type]


def test_neighbourhood_batches_reindex_locally() -> None:
    mp_h, mp_u = parse_metapath("U-I"), parse_metapath("U-I-U")
    items = torch.tensor([[5, 6, 5], [0, 0, 2]])  # item → user
    users = torch.tensor([[1, 2, 0], [0, 0, 2]])  # user → user
    b = Neighbourhoods([mp_h, mp_u], [items, users], 3).batch(torch.tensor([2, 0]))
    assert b.src[0].tolist() == [5, 6]
    assert sorted(b.edge_index[0].t().tolist()) == [[0, 0], [0, 1], [1, 1]]
    assert b.src[1].tolist() == [2, 0, 1]  # the batch's users first, then outside neighbours
    assert sorted(b.edge_index[1].t().tolist()) == [[0, 1], [1, 0], [2, 1]]


def test_training_leaves_the_callers_random_state_alone(demo_data) -> None:
    """Seeds are arguments: a run neither reads nor moves torch's or numpy's global random state."""
    data, _ = demo_data
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    first = train_hdgi(data, small_settings(epochs=2), seed=4)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected_torch.numpy())
    np.testing.assert_array_equal(np.random.rand(3), expected_np)
    torch.manual_seed(999)  # another global state: the same run
    second = train_hdgi(data, small_settings(epochs=2), seed=4)
    np.testing.assert_array_equal(first.personas, second.personas)
    # the seed defaults to the settings' seed
    from_settings = train_hdgi(data, small_settings(epochs=2, seed=4))
    np.testing.assert_array_equal(from_settings.personas, first.personas)


def test_modules_reset_and_describe_themselves() -> None:
    mps = [parse_metapath("U-I"), parse_metapath("U-I-U")]
    enc = HDGIEncoder({"User": 8, "Item": 8}, 5, mps, hidden=8, heads=2)
    model = HDGI(enc, recon_weight=0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        enc.offset.fill_(3.0)
    model.reset_parameters()
    after = model.state_dict()
    assert all(after[k].shape == v.shape for k, v in before.items())
    assert not torch.equal(after["decoder.weight"], before["decoder.weight"] + 1.0)
    assert float(enc.offset.abs().max()) == 0.0  # the centring offset is reset too
    assert repr(enc) == "HDGIEncoder(8, heads=2, users=5, user_init='random', metapaths=['U-I', 'U-I-U'])"
    assert repr(model).startswith("HDGI(HDGIEncoder(8,") and repr(model).endswith("recon_weight=0.5)")
    assert repr(SemanticAttention(8)) == "SemanticAttention(8, att_hidden=128)"


def test_train_state_tracks_early_stopping_and_round_trips() -> None:
    lin = torch.nn.Linear(2, 1)
    st = TrainState(run_id="r")
    for loss in (1.0, 0.5, 0.499, 0.498, 0.2):
        st.record(loss, lin, smooth=False)
    # 0.499 and 0.498 improve on 0.5 by less than REL_TOL: two bad epochs, then 0.2 resets them
    assert (st.epoch, st.best_epoch, st.bad_epochs, st.best_loss) == (5, 5, 0, 0.2)
    st.record(0.3, lin, smooth=False)
    assert st.bad_epochs == 1 and st.stopped(patience=1) and st.done(epochs=100, patience=1)
    back = TrainState.from_dict({**st.to_dict(), "fingerprint": "ignored"})
    assert back.losses == st.losses and back.best_epoch == 5 and back.run_id == "r"
    assert back.best_state is not None and torch.equal(back.best_state["weight"], lin.weight)
    smooth = TrainState(run_id="s")
    for loss in (1.0, 0.0):
        smooth.record(loss, lin, smooth=True)
    assert smooth.smoothed == pytest.approx(0.9)  # mini-batches: the moving average is tracked


def test_persona_model_takes_typed_settings(demo_data, tmp_path: Path) -> None:
    data, _ = demo_data
    r = train_hdgi(data, small_settings(epochs=1, max_sample=7), seed=3)
    pm = r.model
    assert isinstance(pm.settings, HDGISettings) and pm.settings.seed == 3 and pm.settings.max_sample == 7
    assert pm.centred and "centred=True" in repr(pm)
    loaded = PersonaModel.load(pm.save(tmp_path / "m.pt"))
    assert loaded.settings == pm.settings and loaded.centred
    with pytest.raises(TypeError, match="HDGISettings"):
        PersonaModel(pm.encoder, pm.data, pm.metapaths, pm.features, pm.settings.model_dump(), "x")  # type: ignore[arg-type]


def test_corruption_gathers_shuffled_rows_without_copying(demo_data, monkeypatch) -> None:
    """The corrupted view gathers ``x[perm[idx]]`` instead of materialising ``x[perm]``: the same
    personas, bit for bit, as the copying shuffle (same permutations, same gathers), in mini-batches too."""
    import persona.learn.hdgi.infomax as infomax

    data, _ = demo_data
    settings = small_settings(epochs=4, batch_users=16)
    lazy = train_hdgi(data, settings, seed=2).personas
    view = infomax._corrupt({"Item": data["Item"].x})[0]["Item"]
    assert not isinstance(view, torch.Tensor) and view.size(0) == data["Item"].num_nodes
    assert torch.equal(view[torch.arange(5)], data["Item"].x[view.perm[:5]])

    def copying(x_dict, *args):
        return ({k: v[torch.randperm(v.size(0), device=v.device)] for k, v in x_dict.items()}, *args)

    monkeypatch.setattr(infomax, "_corrupt", copying)
    assert np.array_equal(train_hdgi(data, settings, seed=2).personas, lazy)
