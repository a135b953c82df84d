"""Table 3 survives interruption: finished (variant, seed) results are kept, a rerun continues.

Real training on a tiny synthetic catalogue; the interruption is a progress callback that raises, the way
Ctrl-C reaches a running experiment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from persona.config import RecSettings
from persona.errors import ConfigError
from persona.rec import Interactions, run_experiment
from persona.rec.experiment import TrainingProgress

from .synth import chain_frame

SETTINGS = RecSettings(epochs=3, eval_every=1, patience=3, hidden=8, blocks=1, candidates=10)
VARIANTS = [("none", "random"), ("kg", "text")]


class Interrupted(KeyboardInterrupt):
    """What the test raises to stop an experiment half-way."""


class Recorder:
    """A :class:`TrainingProgress` that records every model and epoch, and can interrupt the run."""

    def __init__(self, stop_at_model: int | None = None, stop_at_epoch: int | None = None) -> None:
        self.models: list[str] = []
        self.epochs: list[tuple[str, int]] = []
        self.overall_calls: list[tuple[int, int]] = []
        self.advanced = 0
        self.stop_at_model, self.stop_at_epoch = stop_at_model, stop_at_epoch

    @contextmanager
    def model(self, description: str, epochs: int) -> Iterator[Callable[[Any], None]]:
        self.models.append(description)
        if self.stop_at_model is not None and len(self.models) == self.stop_at_model and self.stop_at_epoch is None:
            raise Interrupted

        def on_epoch(rec: Any) -> None:
            self.epochs.append((description, int(rec["epoch"])))
            assert rec["loss"] > 0 and "valid_ndcg@10" in rec
            if len(self.models) == self.stop_at_model and rec["epoch"] == self.stop_at_epoch:
                raise Interrupted

        yield on_epoch

    @contextmanager
    def overall(self, description: str, total: int, done: int = 0) -> Iterator[Callable[[], None]]:
        self.overall_calls.append((total, done))

        def advance() -> None:
            self.advanced += 1

        yield advance

    def trained(self) -> list[str]:
        """The models that trained at least one epoch (a model restored whole from its checkpoint has none)."""
        return sorted({d for d, _ in self.epochs})


@pytest.fixture(scope="module")
def data() -> tuple[Interactions, dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    inter = Interactions.from_frame(chain_frame(n_users=50, n_items=20))
    rng = np.random.default_rng(0)
    return inter, {"kg": {u: rng.normal(size=6) for u in inter.users}}, {i: rng.normal(size=10) for i in inter.items}


def _run(data: Any, out: Path, bars: TrainingProgress | None = None, **kw: Any) -> pd.DataFrame:
    inter, users, text = data
    args: dict[str, Any] = {"seeds": [0, 1], "variants": VARIANTS, **kw}
    settings = args.pop("settings", SETTINGS)
    return run_experiment(inter, users, text, settings, out_dir=out, bars=bars, **args)


def _rows(out: Path) -> pd.DataFrame:
    """results.csv without the timing column (the one thing an interrupted run may not reproduce)."""
    return pd.read_csv(out / "results.csv").drop(columns="fit_seconds")


@pytest.fixture(scope="module")
def uninterrupted(data: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recorder]:
    out = tmp_path_factory.mktemp("whole")
    rec = Recorder()
    _run(data, out, rec)
    return out, rec


def test_uninterrupted_run_records_digests_and_cleans_up(uninterrupted: tuple[Path, Recorder]) -> None:
    out, rec = uninterrupted
    per_seed = pd.read_csv(out / "results.csv")
    assert len(per_seed) == 2 * 2 * 3 and per_seed["settings_digest"].notna().all()
    # one digest per variant, the same for every seed and stage
    assert per_seed.groupby(["user_emb", "item_emb"])["settings_digest"].nunique().tolist() == [1, 1]
    assert per_seed["settings_digest"].nunique() == 2
    assert len(rec.models) == 4 and rec.overall_calls == [(4, 0)] and rec.advanced == 4
    assert not (out / "checkpoints").exists()  # every model's checkpoint is gone once its results are in
    assert "Partial" not in (out / "results.md").read_text()


def test_interrupted_between_models_resumes_without_retraining(
    data: Any, uninterrupted: tuple[Path, Recorder], tmp_path: Path
) -> None:
    whole, full = uninterrupted
    first = Recorder(stop_at_model=2)  # the kg retriever of seed 0 starts after (none, random) seed 0 is in
    with pytest.raises(Interrupted):
        _run(data, tmp_path, first)
    partial = pd.read_csv(tmp_path / "results.csv")
    assert set(zip(partial.user_emb, partial.item_emb, partial.seed)) == {("none", "random", 0)}
    assert len(partial) == 3  # all three stages, never part of a pair
    assert "Partial: 1 of 4" in (tmp_path / "results.md").read_text()
    assert len(list((tmp_path / "checkpoints").glob("none-random-seed0-*.pt"))) == 1  # the reranker, for seed 0

    second = Recorder()
    msgs: list[str] = []
    _run(data, tmp_path, second, progress=msgs.append)
    assert second.overall_calls == [(4, 1)] and second.advanced == 3
    # the seed-0 reranker came back from its checkpoint: no epoch of it was trained again
    assert "seed 0: reranker (none, random), resumed from its checkpoint" in second.models
    assert not any(d.startswith("seed 0: reranker") for d in second.trained())
    assert len(first.epochs) + len(second.epochs) == len(full.epochs)
    assert msgs[0].startswith("[2/4] seed 0: reranker")
    pd.testing.assert_frame_equal(_rows(tmp_path), _rows(whole))
    assert (tmp_path / "summary.csv").read_text() != "" and "Partial" not in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.png").exists() and not (tmp_path / "checkpoints").exists()

    # a third run has nothing left to do
    third = Recorder()
    _run(data, tmp_path, third)
    assert third.models == [] and third.overall_calls == [(4, 4)]
    pd.testing.assert_frame_equal(_rows(tmp_path), _rows(whole))


def test_interrupted_inside_a_model_resumes_from_its_checkpoint(
    data: Any, uninterrupted: tuple[Path, Recorder], tmp_path: Path
) -> None:
    whole, full = uninterrupted
    # stop in epoch 2 of the seed-0 kg retriever: its checkpoint holds epoch 1 (saved after validation)
    first = Recorder(stop_at_model=2, stop_at_epoch=2)
    with pytest.raises(Interrupted):
        _run(data, tmp_path, first)
    second = Recorder()
    _run(data, tmp_path, second)
    kg0 = [e for d, e in second.epochs if d.startswith("seed 0: retriever (kg, text)")]
    assert kg0 and kg0[0] == 2  # continued at epoch 2, not from scratch
    assert len(first.epochs) - 1 + len(second.epochs) == len(full.epochs)  # only the unsaved epoch again
    pd.testing.assert_frame_equal(_rows(tmp_path), _rows(whole))


def test_other_settings_are_refused_and_fresh_starts_over(
    data: Any, uninterrupted: tuple[Path, Recorder], tmp_path: Path
) -> None:
    whole, _ = uninterrupted
    first = Recorder(stop_at_model=2)
    with pytest.raises(Interrupted):
        _run(data, tmp_path, first)
    before = (tmp_path / "results.csv").read_bytes()
    with pytest.raises(ConfigError, match=r"none/random seed 0 was run with other settings.*--fresh"):
        _run(data, tmp_path, Recorder(), settings=SETTINGS.model_copy(update={"hidden": 16}))
    with pytest.raises(ConfigError, match=r"does not ask for \(none/random seed 0\).*--fresh"):
        _run(data, tmp_path, Recorder(), variants=[("kg", "text")])
    assert (tmp_path / "results.csv").read_bytes() == before  # a refused run changes nothing
    again = Recorder()
    _run(data, tmp_path, again, fresh=True)
    assert len(again.trained()) == 4 and again.overall_calls == [(4, 0)]
    pd.testing.assert_frame_equal(_rows(tmp_path), _rows(whole))


def test_more_seeds_extend_a_finished_experiment(data: Any, tmp_path: Path) -> None:
    _run(data, tmp_path, Recorder(), seeds=[0])
    more = Recorder()
    summary = _run(data, tmp_path, more, seeds=[0, 1])
    assert more.overall_calls == [(4, 2)] and all("seed 1" in d for d in more.models)
    assert set(pd.read_csv(tmp_path / "results.csv")["seed"]) == {0, 1}
    assert (summary["n_seeds"] == 2).all()


def test_models_fitted_side_by_side_give_the_same_results(data: Any, tmp_path: Path) -> None:
    """``jobs=2`` fits a seed's models two at a time in threads: at these sizes every figure is the one ``jobs=1`` gives
    (each model has its own batch, negative and dropout generators; parameters are built one at a time)."""
    import torch

    before = torch.get_num_threads()
    _run(data, tmp_path / "one")
    _run(data, tmp_path / "two", jobs=2)
    assert torch.get_num_threads() == before  # the threads are given back
    a = pd.read_csv(tmp_path / "one" / "results.csv").drop(columns=["fit_seconds"])
    b = pd.read_csv(tmp_path / "two" / "results.csv").drop(columns=["fit_seconds"])
    pd.testing.assert_frame_equal(a, b)


def test_the_next_seed_starts_while_this_seeds_last_model_trains(data: Any, tmp_path: Path) -> None:
    """With two jobs the experiment is one queue over all seeds: seed 1's reranker starts while seed 0's
    retriever is still training, so a seed's last model does not leave the other core idle. The retriever
    waits, inside its first epoch, for seed 1 to start (a queue per seed would never start it)."""
    import threading

    started = threading.Event()

    class Gate(Recorder):
        @contextmanager
        def model(self, description: str, epochs: int) -> Iterator[Callable[[Any], None]]:
            if description.startswith("seed 1: reranker"):
                started.set()
            with super().model(description, epochs) as on_epoch:

                def gated(rec: Any) -> None:
                    on_epoch(rec)
                    if description == "seed 0: retriever (kg, text)" and rec["epoch"] == 1:
                        assert started.wait(60), "seed 1 did not start while seed 0's retriever trained"

                yield gated

    rec = Gate()
    _run(data, tmp_path / "queued", bars=rec, jobs=2)
    assert rec.advanced == 4 and len(rec.models) == 4
    a = pd.read_csv(tmp_path / "queued" / "results.csv").drop(columns=["fit_seconds"])
    _run(data, tmp_path / "one")
    b = pd.read_csv(tmp_path / "one" / "results.csv").drop(columns=["fit_seconds"])
    pd.testing.assert_frame_equal(a, b)


def test_an_interrupted_parallel_experiment_stops_its_other_model_and_resumes(data: Any, tmp_path: Path) -> None:
    """Ctrl-C in one of two models fitted side by side stops the other at its next epoch; the rerun
    finishes with the results of an uninterrupted run."""
    rec = Recorder(stop_at_model=2, stop_at_epoch=2)
    with pytest.raises(Interrupted):
        _run(data, tmp_path / "cut", bars=rec, jobs=2)
    _run(data, tmp_path / "cut", jobs=2)
    _run(data, tmp_path / "whole")
    a = pd.read_csv(tmp_path / "cut" / "results.csv").drop(columns=["fit_seconds"])
    b = pd.read_csv(tmp_path / "whole" / "results.csv").drop(columns=["fit_seconds"])
    pd.testing.assert_frame_equal(a, b)
