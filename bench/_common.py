"""Helpers shared by the benchmarks: machine description, peak memory, JSON results, sized graphs."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.kgstore import GraphFrames

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = Path(os.environ.get("PERSONA_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))

#: Table 1 of the paper: Amazon Movies & TV after the authors' filtering.
MOVIES_TV = {"users": 10_849, "items": 3_672, "interactions": 87_376, "entities": 45_528, "triples": 209_630}


def ml100k_ingest_cmd(store: str) -> list[str]:
    """``persona ingest movielens …`` for ML-100K + its DBpedia links and movie triples into ``store``."""
    return ["persona", "ingest", "movielens", str(DATASETS / "ml-100k"), "--link", str(DATASETS / "dbpedia-movies/ml-100k.link"),
            "--rdf", str(DATASETS / "dbpedia-movies/movies.nt.gz"), "--store", store, "-q"]


def machine() -> dict[str, Any]:
    """CPU model, core count, memory and Python/torch versions of this machine."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    info = {"cpu": model, "cores": os.cpu_count(), "ram_gib": round(mem, 1), "python": platform.python_version(),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def planted_movies_tv(seed: int = 0, scale: float = 1.0) -> GraphFrames:
    """A planted-taste graph of the paper's Table 1 (Amazon Movies & TV) sizes, for persona-quality
    benchmarks: the product's one planted-taste generator, :func:`persona.ingest.demo.generate_demo`, with
    10 tastes and its DBpedia-like knowledge layer. Sizes (seed 0): 10,849 users, 3,672 items, 86,592
    interactions (Table 1: 87,376), 45,528 entities and 209,630 item → entity triples. ``scale`` multiplies
    users, items, entities and triples (the cost curve of ``bench/bench_cost_curve.py``)."""
    from persona.ingest.demo import generate_demo

    own_entities = 955  # the shop's own authors, genres, brands and categories at these sizes
    own_triples = 25_492  # its HAS_GENRE, AUTHOR, HAS_BRAND and IN_CATEGORY edges
    return generate_demo(
        users=round(MOVIES_TV["users"] * scale),
        items=round(MOVIES_TV["items"] * scale),
        tastes=10,
        history=(2, 14),
        kg_entities=round((MOVIES_TV["entities"] - own_entities) * scale),
        kg_triples=round((MOVIES_TV["triples"] - own_triples) * scale),
        seed=seed,
    )


class PhasePeaks:
    """Peak resident memory per named phase, sampled every ``interval`` seconds by a daemon thread.

    ``with peaks.phase("cold_run"): …`` attributes the samples taken inside to that phase; ``peaks.gib``
    maps each phase to its peak (GiB).
    """

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.gib: dict[str, float] = {}
        self._current = "setup"
        self._interval = interval
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _rss_gib() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30

    def _run(self) -> None:
        while True:
            name = self._current
            self.gib[name] = round(max(self.gib.get(name, 0.0), self._rss_gib()), 2)
            time.sleep(self._interval)

    def phase(self, name: str) -> Any:
        import contextlib

        @contextlib.contextmanager
        def _cm() -> Any:
            prev, self._current = self._current, name
            self.gib[name] = round(max(self.gib.get(name, 0.0), self._rss_gib()), 2)
            try:
                yield
            finally:
                self.gib[name] = round(max(self.gib.get(name, 0.0), self._rss_gib()), 2)
                self._current = prev

        return _cm()


def commit() -> str:
    """The checkout's commit (``+dirty`` when files differ from it), or ``unknown`` outside git."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine and a timestamp added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": commit(), "machine": machine(), **data}
    out.write_text(json.dumps(payload, indent=2, default=str))
    return out


def sized_graph(
    users: int = MOVIES_TV["users"],
    items: int = MOVIES_TV["items"],
    interactions: int = MOVIES_TV["interactions"],
    entities: int = MOVIES_TV["entities"],
    triples: int = MOVIES_TV["triples"],
    seed: int = 0,
) -> GraphFrames:
    """A random graph with exactly the given sizes (popularity follows a Zipf law, like real data).

    Interactions get a leave-one-out split; triples go from items to entities of a few DBpedia types.
    """
    rng = np.random.default_rng(seed)
    g = GraphFrames()
    uid = np.array([f"u{i}" for i in range(users)])
    iid = np.array([f"i{i}" for i in range(items)])
    g.add_nodes("User", pd.DataFrame({"id": uid}))
    g.add_nodes("Item", pd.DataFrame({"id": iid, "title": [f"Item {i}" for i in range(items)], "domain": "movie"}))
    # interactions: every user ≥ 5, items by Zipf popularity, unique pairs
    pop = 1.0 / np.arange(1, items + 1) ** 0.8
    pop /= pop.sum()
    per_user = np.full(users, 5)
    extra = interactions - per_user.sum()
    per_user += np.bincount(rng.integers(0, users, extra), minlength=users)
    src, dst = [], []
    for u, n in enumerate(per_user):
        its = rng.choice(items, size=min(n, items), replace=False, p=pop)
        src.append(np.full(len(its), u))
        dst.append(its)
    s, d = np.concatenate(src), np.concatenate(dst)
    pos = np.concatenate([np.arange(n) for n in per_user])
    last = np.repeat(per_user, per_user) - 1
    split = np.where(pos == last, "test", np.where(pos == last - 1, "valid", "train"))
    g.add_rels(
        "RATED", "User", "Item",
        pd.DataFrame({"src": uid[s], "dst": iid[d], "rating": 1.0, "ts": pos.astype(np.int64), "pos": pos, "split": split}),
    )
    kinds = [("Person", "STARRING", 0.45), ("Person", "DIRECTED_BY", 0.1), ("Subject", "HAS_SUBJECT", 0.3),
             ("Genre", "HAS_GENRE", 0.1), ("Award", "WON_AWARD", 0.05)]
    ent_label = rng.choice(len(kinds), size=entities, p=[0.5, 0.05, 0.3, 0.1, 0.05])
    eids = np.array([f"http://dbpedia.org/resource/E{i}" for i in range(entities)])
    for k, (label, _, _) in enumerate(kinds):
        sel = eids[ent_label == k]
        g.add_nodes(label, pd.DataFrame({"id": sel, "name": [e.rsplit("/", 1)[1] for e in sel]}))  # Person twice: appended
    epop = 1.0 / np.arange(1, entities + 1) ** 0.9
    epop /= epop.sum()
    seen: set[tuple[int, int]] = set()
    ts_src, ts_dst = [], []
    while len(seen) < triples:
        need = triples - len(seen)
        a = rng.integers(0, items, need * 2)
        b = rng.choice(entities, size=need * 2, p=epop)
        for x, y in zip(a.tolist(), b.tolist()):
            if (x, y) not in seen:
                seen.add((x, y))
                ts_src.append(x)
                ts_dst.append(y)
                if len(seen) == triples:
                    break
    ts_src_a, ts_dst_a = np.array(ts_src), np.array(ts_dst)
    for k, (label, rel, _) in enumerate(kinds):
        m = ent_label[ts_dst_a] == k
        g.add_rels(rel, "Item", label, pd.DataFrame({"src": iid[ts_src_a[m]], "dst": eids[ts_dst_a[m]]}))
    return g
