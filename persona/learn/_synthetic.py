"""A planted-taste knowledge graph for tests and benchmarks of persona learning.

Every user and item has a hidden *taste* (``planted_taste``). Items of a taste get titles and
descriptions from that taste's vocabulary and attributes (genres, subjects, people…) mostly from the
taste's pools; users interact mostly with items of their taste. A persona learner that recovers the
tastes from the graph and the item texts alone scores a high NMI against ``User.planted_taste``.

Sizes are free, so the same generator builds a 60-user test graph and an Amazon Movies & TV-sized one
(10,849 users, 3,672 items, 87,376 interactions, 45,528 entities, 209,630 triples; paper Table 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.kgstore.frames import GraphFrames

TASTES: list[tuple[str, list[str]]] = [
    (
        "space science fiction",
        [
            "starship",
            "galaxy",
            "alien",
            "planet",
            "astronaut",
            "orbit",
            "rocket",
            "cosmic",
            "nebula",
            "robot",
            "laser",
            "empire",
        ],
    ),
    (
        "romantic comedy",
        [
            "love",
            "wedding",
            "romance",
            "kiss",
            "date",
            "heart",
            "bride",
            "couple",
            "flirt",
            "valentine",
            "charming",
            "sweetheart",
        ],
    ),
    (
        "supernatural horror",
        [
            "ghost",
            "haunted",
            "demon",
            "blood",
            "zombie",
            "curse",
            "nightmare",
            "monster",
            "vampire",
            "scream",
            "terror",
            "grave",
        ],
    ),
    (
        "western frontier",
        [
            "cowboy",
            "sheriff",
            "outlaw",
            "ranch",
            "saloon",
            "desert",
            "horse",
            "gunslinger",
            "frontier",
            "cattle",
            "bandit",
            "canyon",
        ],
    ),
    (
        "nature documentary",
        [
            "wildlife",
            "ocean",
            "forest",
            "animals",
            "ecosystem",
            "climate",
            "species",
            "rainforest",
            "whales",
            "birds",
            "earth",
            "river",
        ],
    ),
    (
        "animated family",
        [
            "cartoon",
            "puppy",
            "princess",
            "magic",
            "talking",
            "toys",
            "adventure",
            "friendship",
            "kingdom",
            "dragon",
            "fairy",
            "kids",
        ],
    ),
    (
        "crime thriller",
        [
            "detective",
            "murder",
            "heist",
            "gangster",
            "police",
            "mafia",
            "robbery",
            "suspect",
            "conspiracy",
            "hitman",
            "crime",
            "noir",
        ],
    ),
    (
        "sports drama",
        [
            "football",
            "coach",
            "championship",
            "boxing",
            "team",
            "stadium",
            "athlete",
            "season",
            "victory",
            "training",
            "rivalry",
            "olympic",
        ],
    ),
    (
        "war history",
        [
            "soldier",
            "battle",
            "army",
            "general",
            "invasion",
            "trenches",
            "navy",
            "resistance",
            "empire",
            "siege",
            "veteran",
            "medal",
        ],
    ),
    (
        "musical",
        [
            "singer",
            "dance",
            "broadway",
            "song",
            "band",
            "concert",
            "stage",
            "melody",
            "choir",
            "jazz",
            "orchestra",
            "rhythm",
        ],
    ),
]

_FILLER = [
    "the",
    "a",
    "story",
    "of",
    "with",
    "in",
    "and",
    "about",
    "journey",
    "life",
    "new",
    "old",
    "great",
    "final",
    "secret",
    "last",
]

#: Attribute relations: (relationship type, target label, share of triples, per-taste pool?).
_RELATIONS: list[tuple[str, str, float, bool]] = [
    ("HAS_GENRE", "Genre", 0.06, True),
    ("HAS_SUBJECT", "Subject", 0.30, True),
    ("STARRING", "Person", 0.34, True),
    ("DIRECTED_BY", "Person", 0.06, True),
    ("WRITTEN_BY", "Person", 0.08, True),
    ("WON_AWARD", "Award", 0.04, False),
    ("IN_CATEGORY", "Category", 0.08, True),
    ("HAS_BRAND", "Brand", 0.04, False),
]

_ENTITY_SHARE = {
    "Person": 0.62,
    "Subject": 0.30,
    "Genre": 0.002,
    "Award": 0.02,
    "Category": 0.03,
    "Brand": 0.028,
}


def planted_graph(
    n_users: int = 60,
    n_items: int = 40,
    n_interactions: int = 600,
    n_entities: int = 120,
    n_triples: int = 400,
    n_tastes: int = 4,
    *,
    p_taste: float = 0.85,
    p_attr_taste: float = 0.85,
    also_buy_per_item: float = 1.0,
    seed: int = 0,
) -> GraphFrames:
    """Build a planted-taste graph as :class:`~persona.kgstore.GraphFrames`.

    Args:
        n_users, n_items, n_interactions, n_entities, n_triples: Target sizes (triples are item →
            attribute edges; ALSO_BUY edges come on top).
        n_tastes: Hidden tastes (at most 10).
        p_taste: Probability that an interaction picks an item of the user's taste.
        p_attr_taste: Probability that an attribute edge picks from the item's taste pool.
        also_buy_per_item: Mean ALSO_BUY edges per item (within the item's taste).
        seed: Random seed.

    Returns:
        Frames with ``User`` / ``Item`` (``planted_taste`` set), attribute nodes, ``RATED`` with
        ``rating, ts, pos, split`` (leave-one-out: last = test, second last = valid, users with fewer
        than 3 interactions all train), attribute edges and ``ALSO_BUY``.
    """
    if not 1 <= n_tastes <= len(TASTES):
        raise ValueError(f"n_tastes must be in 1..{len(TASTES)}")
    rng = np.random.default_rng(seed)
    tastes = TASTES[:n_tastes]
    g = GraphFrames()

    item_taste = rng.integers(0, n_tastes, n_items)
    titles, descs = [], []
    for i, t in enumerate(item_taste):
        words = tastes[t][1]
        w = rng.choice(words, 2, replace=False)
        titles.append(f"{w[0].title()} {w[1].title()} {i}")
        body = list(rng.choice(words, 6)) + list(rng.choice(_FILLER, 4))
        rng.shuffle(body)
        descs.append(f"A {tastes[t][0]} film: " + " ".join(body) + ".")
    item_ids = np.array([f"item{i}" for i in range(n_items)])
    g.add_nodes(
        "Item",
        pd.DataFrame(
            {
                "id": item_ids,
                "title": titles,
                "description": descs,
                "domain": "movie",
                "planted_taste": item_taste,
            }
        ),
    )

    user_taste = rng.integers(0, n_tastes, n_users)
    user_ids = np.array([f"user{u}" for u in range(n_users)])
    g.add_nodes("User", pd.DataFrame({"id": user_ids, "planted_taste": user_taste}))

    # interactions: every user at least 2, the rest spread by a skewed activity
    base = np.full(n_users, 2)
    extra = max(0, n_interactions - base.sum())
    activity = rng.lognormal(0, 1, n_users)
    counts = base + rng.multinomial(extra, activity / activity.sum())
    counts = np.minimum(counts, n_items)
    pop = rng.pareto(1.5, n_items) + 1
    by_taste = [np.flatnonzero(item_taste == t) for t in range(n_tastes)]
    rows = []
    for u in range(n_users):
        own = by_taste[user_taste[u]]
        chosen: set[int] = set()
        while len(chosen) < counts[u]:
            pool = own if (rng.random() < p_taste and len(own)) else np.arange(n_items)
            p = pop[pool] / pop[pool].sum()
            chosen.add(int(rng.choice(pool, p=p)))
        seq = list(chosen)
        rng.shuffle(seq)
        n = len(seq)
        for pos, it in enumerate(seq):
            split = "train" if n < 3 or pos < n - 2 else ("valid" if pos == n - 2 else "test")
            rows.append(
                (user_ids[u], item_ids[it], float(rng.integers(1, 6)), 1_000_000 + 1000 * u + pos, pos, split)
            )
    g.add_rels(
        "RATED", "User", "Item", pd.DataFrame(rows, columns=["src", "dst", "rating", "ts", "pos", "split"])
    )

    # attribute entities: per label a global pool, split into per-taste sub-pools
    shares = {lab: _ENTITY_SHARE[lab] for _, lab, _, _ in _RELATIONS}
    total = sum(shares.values())
    pools: dict[str, list[np.ndarray]] = {}
    for lab, share in shares.items():
        n = max(n_tastes, round(n_entities * share / total))
        ent_taste = np.arange(n) % n_tastes
        names = []
        for k, t in enumerate(ent_taste):
            if lab in ("Genre", "Subject", "Category"):
                word = tastes[t][1][k % len(tastes[t][1])]
                names.append(
                    f"{word.title()} {tastes[t][0].split()[-1]}"
                    + (f" {k}" if k >= len(tastes[t][1]) * n_tastes else "")
                )
            elif lab == "Person":
                names.append(f"Person {k}")
            else:
                names.append(f"{lab} {k}")
        ids = np.array([f"{lab.lower()}:{k}" for k in range(n)])
        g.add_nodes(lab, pd.DataFrame({"id": ids, "name": names}))
        pools[lab] = [ids[ent_taste == t] for t in range(n_tastes)] + [ids]
    rel_share = np.array([r[2] for r in _RELATIONS])
    rel_of = rng.choice(len(_RELATIONS), n_triples, p=rel_share / rel_share.sum())
    src_item = rng.integers(0, n_items, n_triples)
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r, it in zip(rel_of, src_item):
        rel, lab, _, tasteful = _RELATIONS[r]
        pool = pools[lab][item_taste[it]] if tasteful and rng.random() < p_attr_taste else pools[lab][-1]
        edges.setdefault((rel, lab), []).append((item_ids[it], str(rng.choice(pool))))
    for (rel, lab), pairs in edges.items():
        g.add_rels(rel, "Item", lab, pd.DataFrame(pairs, columns=["src", "dst"]))

    n_ab = int(also_buy_per_item * n_items)
    if n_ab:
        a = rng.integers(0, n_items, n_ab)
        b = [int(rng.choice(by_taste[item_taste[x]])) for x in a]
        ab = pd.DataFrame({"src": item_ids[a], "dst": item_ids[b]})
        g.add_rels("ALSO_BUY", "Item", "Item", ab[ab.src != ab.dst])
    return g
