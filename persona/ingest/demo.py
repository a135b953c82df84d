"""A synthetic Amazon-like book shop with planted personas, for demos and end-to-end tests.

The generator plants what the pipeline is meant to recover:

* ``K`` *tastes* (themes such as "space opera" or "cosy mystery"). Each taste is a distribution over
  attributes: its own genres, authors (``Person`` via ``AUTHOR``), a leaf category, and a preference
  over publishers (``Brand``) that overlaps with neighbouring tastes; generic genres ("Fiction",
  "Bestseller"), the root category and a few crossover authors are shared, as in real catalogues.
* Every item belongs to one taste (``Item.planted_taste``); its attributes are drawn from that taste and
  its title and description use the taste's vocabulary plus shared filler words, so text embeddings
  carry the signal. ``ALSO_BUY`` / ``ALSO_VIEW`` mostly stay within a taste.
* Every user has one long-term taste (``User.planted_taste``) and a history of sessions. Sessions are
  separated by at least one day (minutes apart inside). Each session has a short-term *intent* taste:
  the user's own with probability ``p_own_intent``, otherwise another one at random; each interaction
  draws from the intent taste with probability ``p_intent`` and from the long-term taste otherwise, so
  the next item depends on both the session and the persona.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``: same arguments, same graph.
``planted_taste`` is ground truth for evaluation only, never a model input.

Why one long module: the generator's vocabularies and its drawing code belong together (one
``numpy.random.Generator`` stream; the optional knowledge layer draws from a second one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import ConfigError
from persona.kgstore.frames import GraphFrames

from ._common import check_endpoints
from ._values import DEMO_ITEMS, DEMO_USERS, TS_MAX, TS_MIN, check_reader_args
from .sequences import finish_interactions


@dataclass(frozen=True)
class _Theme:
    name: str
    shelf: str  # parent category: Fiction / Nonfiction / Children
    category: str
    genres: tuple[str, str]
    adjs: tuple[str, ...]
    nouns: tuple[str, ...]
    words: tuple[str, ...]


THEMES: tuple[_Theme, ...] = (
    _Theme("space opera", "Fiction", "Space Opera", ("Science Fiction", "Military SF"),
           ("Galactic", "Stellar", "Orbital", "Interstellar", "Void", "Quantum"),
           ("Starship", "Empire", "Nebula", "Armada", "Frontier", "Station"),
           ("starships", "galactic", "empire", "hyperspace", "alien", "fleet", "captain", "warp", "orbit",
            "colony", "admiral", "nebula", "space battle", "planet")),
    _Theme("cosy mystery", "Fiction", "Cozy Mystery", ("Mystery", "Cozy Crime"),
           ("Quiet", "Village", "Poisoned", "Vicarage", "Tea-Time", "Murderous"),
           ("Murder", "Vicar", "Bakery", "Garden Party", "Inheritance", "Teashop"),
           ("cosy mystery", "village", "detective", "amateur sleuth", "vicar", "tea", "murder", "clues",
            "suspects", "bakery", "cat", "gossip", "inspector", "cottage")),
    _Theme("epic fantasy", "Fiction", "Epic Fantasy", ("Fantasy", "Sword and Sorcery"),
           ("Dragon", "Shadow", "Crimson", "Elder", "Enchanted", "Iron"),
           ("Throne", "Sword", "Crown", "Prophecy", "Kingdom", "Sorcerer"),
           ("dragons", "sorcery", "kingdom", "quest", "prophecy", "elves", "wizard", "ancient magic",
            "sword", "castle", "heir", "dark lord", "realm", "spell")),
    _Theme("regency romance", "Fiction", "Historical Romance", ("Romance", "Regency"),
           ("Scandalous", "Secret", "Reluctant", "Winter", "Wicked", "Tender"),
           ("Duke", "Countess", "Ball", "Betrothal", "Heiress", "Season"),
           ("romance", "duke", "ballroom", "courtship", "love", "scandal", "heiress", "london season",
            "marriage", "waltz", "letters", "passion", "society", "estate")),
    _Theme("psychological thriller", "Fiction", "Psychological Thriller", ("Thriller", "Suspense"),
           ("Silent", "Missing", "Perfect", "Broken", "Hidden", "Last"),
           ("Witness", "Wife", "Stranger", "Lie", "Alibi", "Room"),
           ("thriller", "suspense", "twist", "obsession", "lies", "missing", "stalker", "unreliable narrator",
            "dark secret", "police", "paranoia", "psychologist", "marriage", "revenge")),
    _Theme("home cooking", "Nonfiction", "Cookbooks", ("Cooking", "Food and Drink"),
           ("Simple", "Rustic", "Everyday", "Slow", "Seasonal", "Hearty"),
           ("Kitchen", "Suppers", "Bakes", "Recipes", "Pantry", "Feasts"),
           ("recipes", "kitchen", "baking", "bread", "seasonal vegetables", "slow cooker", "spices", "family meals",
            "pastry", "soups", "oven", "ingredients", "dinner", "flavour")),
    _Theme("gardening", "Nonfiction", "Gardening", ("Gardening", "Nature"),
           ("Green", "Wild", "Small", "Organic", "Cottage", "Blooming"),
           ("Garden", "Allotment", "Border", "Greenhouse", "Meadow", "Orchard"),
           ("gardening", "plants", "soil", "compost", "seeds", "pruning", "roses", "vegetable patch",
            "perennials", "greenhouse", "pollinators", "bulbs", "shrubs", "watering")),
    _Theme("military history", "Nonfiction", "Military History", ("History", "War"),
           ("Last", "Bloody", "Forgotten", "Great", "Iron", "Desperate"),
           ("Campaign", "Battle", "Siege", "Regiment", "Front", "Retreat"),
           ("war", "battle", "generals", "infantry", "campaign", "artillery", "siege", "soldiers",
            "strategy", "empire", "trenches", "armistice", "cavalry", "front line")),
    _Theme("self-help", "Nonfiction", "Self-Help", ("Self-Help", "Psychology"),
           ("Deep", "Atomic", "Mindful", "Better", "Fearless", "Daily"),
           ("Habits", "Focus", "Mindset", "Calm", "Success", "Purpose"),
           ("habits", "productivity", "mindset", "motivation", "goals", "focus", "wellbeing", "confidence",
            "routine", "mindfulness", "success", "resilience", "time management", "coaching")),
    _Theme("horror", "Fiction", "Horror", ("Horror", "Supernatural"),
           ("Haunted", "Hollow", "Bleeding", "Crawling", "Midnight", "Cursed"),
           ("House", "Asylum", "Woods", "Ritual", "Cellar", "Harvest"),
           ("horror", "ghosts", "haunting", "demon", "curse", "blood", "nightmare", "possession",
            "graveyard", "terror", "creature", "occult", "screams", "darkness")),
    _Theme("picture books", "Children", "Picture Books", ("Children's", "Animals"),
           ("Little", "Sleepy", "Brave", "Busy", "Happy", "Tiny"),
           ("Bear", "Bunny", "Dragon", "Tractor", "Owl", "Dinosaur"),
           ("bedtime", "animals", "friendship", "colours", "counting", "rhymes", "picture book", "toddlers",
            "farm", "adventure", "kindness", "giggles", "read aloud", "illustrations")),
    _Theme("travel writing", "Nonfiction", "Travel Writing", ("Travel", "Adventure"),
           ("Long", "Slow", "Lonely", "Far", "Southern", "Hidden"),
           ("Road", "Journey", "Coast", "Railway", "Pilgrimage", "Island"),
           ("travel", "journey", "mountains", "trek", "railway", "cultures", "coastline", "backpacking",
            "road trip", "islands", "villages", "explorer", "maps", "wanderlust")),
)  # fmt: skip

_FILLER_ADJ = ("acclaimed", "bestselling", "classic", "original", "unforgettable", "illustrated", "popular",
               "new", "gripping", "charming", "celebrated", "definitive")  # fmt: skip
_FILLER_NOUN = ("story", "edition", "collection", "novel", "chronicle", "volume", "account", "guide")
_SHARED_GENRES = ("Fiction", "Nonfiction", "Bestseller", "Award Winner")
_BRANDS = (
    "Harbor Press", "Northwind Books", "Blue Lantern", "Meridian House", "Foxglove Publishing",
    "Larkspur & Co", "Granite Books", "Seabright Editions",
)  # fmt: skip
_FIRST = ("Ada", "Ben", "Clara", "David", "Elena", "Felix", "Grace", "Hugo", "Iris", "Jonah", "Kira", "Leo",
          "Maya", "Nils", "Olive", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yara")  # fmt: skip
_LAST = ("Adler", "Brook", "Castell", "Dane", "Ellery", "Frost", "Garner", "Hale", "Ives", "Jarvis", "Keane",
         "Lowell", "Marsh", "Novak", "Orme", "Pryce", "Quarry", "Rook", "Sterling", "Thorne", "Vance", "Wren")  # fmt: skip


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_args(
    *,
    users: Any,
    items: Any,
    tastes: Any,
    seed: Any,
    history: Any,
    session_len: Any,
    p_own_intent: Any,
    p_intent: Any,
    p_within_taste_links: Any,
    also_buy: Any,
    also_view: Any,
    start_ts: Any,
    k_core: Any,
) -> None:
    """Refuse arguments :func:`generate_demo` cannot honour, naming the CLI flag where there is one."""
    if not _is_int(users) or users < 1:
        raise ConfigError(f"users must be a whole number of at least 1 (--users), got {users!r}")
    if not _is_int(tastes) or not 1 <= tastes <= len(THEMES):
        raise ConfigError(
            f"tastes must be between 1 and {len(THEMES)} (one per built-in theme), got {tastes!r}"
        )
    if not _is_int(items) or items < 4 * tastes:
        raise ConfigError(
            f"items must be at least 4 per taste ({4 * tastes} for {tastes} tastes) (--items), got {items!r}"
        )
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise ConfigError(f"seed must be a whole number from 0 to 2**63-1 (--seed), got {seed!r}")
    for name, pair in (("history", history), ("session_len", session_len)):
        ok = (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and all(_is_int(x) for x in pair)
            and 1 <= pair[0] <= pair[1]
        )
        if not ok:
            raise ConfigError(
                f"{name} must be a (min, max) pair of whole numbers with 1 <= min <= max, got {pair!r}"
            )
    for name, prob in (
        ("p_own_intent", p_own_intent),
        ("p_intent", p_intent),
        ("p_within_taste_links", p_within_taste_links),
    ):
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            raise ConfigError(f"{name} must be a probability between 0 and 1, got {prob!r}")
    for name, n in (("also_buy", also_buy), ("also_view", also_view)):
        if not _is_int(n) or not 0 <= n <= items:  # more than items cannot be honoured (nor drawn fast)
            raise ConfigError(f"{name} must be a whole number from 0 to items ({items}), got {n!r}")
    latest = TS_MAX - 10 * 365 * 86400  # a generated history spans well under a decade
    if not _is_int(start_ts) or not TS_MIN <= start_ts <= latest:
        raise ConfigError(
            f"start_ts must be a Unix time in seconds from {TS_MIN} to {latest} "
            f"(the generated history must end before 2100), got {start_ts!r}"
        )
    check_reader_args(k_core=k_core)


class _Stream:
    """Scalar draws served from pre-drawn blocks (a numpy call per scalar would dominate the run time)."""

    def __init__(self, rng: np.random.Generator, block: int = 65536) -> None:
        self._rng = rng
        self._block = block
        self._u = rng.random(block)
        self._z = rng.standard_normal(block)
        self._i = 0
        self._j = 0

    def u(self) -> float:
        """Uniform on [0, 1)."""
        if self._i == self._block:
            self._u = self._rng.random(self._block)
            self._i = 0
        self._i += 1
        return float(self._u[self._i - 1])

    def int(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        return min(int(self.u() * n), n - 1)

    def normal(self) -> float:
        """Standard normal."""
        if self._j == self._block:
            self._z = self._rng.standard_normal(self._block)
            self._j = 0
        self._j += 1
        return float(self._z[self._j - 1])


def generate_demo(
    *,
    users: int = DEMO_USERS,
    items: int = DEMO_ITEMS,
    tastes: int = 8,
    seed: int = 0,
    history: tuple[int, int] = (8, 40),
    session_len: tuple[int, int] = (2, 6),
    p_own_intent: float = 0.5,
    p_intent: float = 0.7,
    p_within_taste_links: float = 0.85,
    also_buy: int = 3,
    also_view: int = 4,
    start_ts: int = 1_514_764_800,
    k_core: int = 0,
    kg_entities: int = 0,
    kg_triples: int = 0,
    p_kg_taste: float = 0.85,
) -> GraphFrames:
    """Generate the demo graph (see the module doc for what is planted).

    Args:
        users: Number of users.
        items: Number of items (at least 4 per taste).
        tastes: Number of planted tastes, 1..12 (one per built-in theme).
        seed: Seed of the random generator.
        history: Min and max interactions per user (inclusive).
        session_len: Min and max interactions per session (the last session may be shorter).
        p_own_intent: Probability that a session's intent is the user's long-term taste.
        p_intent: Probability that an interaction follows the session intent (else the long-term taste).
        p_within_taste_links: Probability that an also-buy / also-view target shares the item's taste.
        also_buy: ``ALSO_BUY`` edges per item.
        also_view: ``ALSO_VIEW`` edges per item.
        start_ts: Unix time of the earliest possible interaction (default 2018-01-01).
        k_core: Optional k-core on the interactions (0 = off).
        kg_entities: Size of an optional DBpedia-like knowledge layer (subjects, series, literary genres,
            cover artists, publishers, awards, languages, places): this many entity nodes ...
        kg_triples: ... joined to items by this many triples, each from the item's taste pool with
            probability ``p_kg_taste`` for the taste-bearing relations (see :data:`KG_RELATIONS`). Drawn
            after everything else from a second generator, so the rest of the graph does not change; the
            benchmarks use it for a graph of the paper's Table 1 sizes (``bench/_common.py``).
        p_kg_taste: See ``kg_triples``.

    Returns:
        Frames with ``User`` (``planted_taste``), ``Item`` (``title``, ``description``,
        ``domain="book"``, ``year``, ``categories``, ``planted_taste``), ``Genre``, ``Person``, ``Brand``,
        ``Category`` and ``RATED``, ``HAS_GENRE``, ``AUTHOR``, ``HAS_BRAND``, ``IN_CATEGORY``,
        ``ALSO_BUY``, ``ALSO_VIEW``. Every item is a node, with or without interactions. ``stats``:
        ``source``, ``seed``, ``tastes``, ``taste_names``, ``records``, ``sessions``, ``duplicates``,
        ``k_core``, ``k_core_removed``, ``skipped``.

    Raises:
        ValueError: an argument out of range (the message names it, and the ``persona ingest demo``
            flag where there is one); an InputError (a ValueError) when ``k_core`` leaves nothing.

    Example:
        >>> gf = generate_demo(users=50, items=80, tastes=4, seed=1)
        >>> sorted(gf.nodes["User"]["planted_taste"].unique().tolist())
        [0, 1, 2, 3]
    """
    _check_args(
        users=users, items=items, tastes=tastes, seed=seed, history=history, session_len=session_len,
        p_own_intent=p_own_intent, p_intent=p_intent, p_within_taste_links=p_within_taste_links,
        also_buy=also_buy, also_view=also_view, start_ts=start_ts, k_core=k_core,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    themes = THEMES[:tastes]

    # --- items: taste, attributes, text ----------------------------------------------------------
    item_taste = np.sort(np.arange(items) % tastes)  # balanced, grouped by taste
    item_ids = [f"B{seed % 1000:03d}{i:06d}" for i in range(items)]
    per_taste = [np.flatnonzero(item_taste == k) for k in range(tastes)]

    n_auth = max(3, items // tastes // 4)
    author_names: list[str] = []
    taste_authors: list[list[int]] = []
    used_names: set[str] = set()
    for _k in range(tastes):
        idx = []
        for _ in range(n_auth):
            while True:
                name = f"{_FIRST[rng.integers(len(_FIRST))]} {_LAST[rng.integers(len(_LAST))]}"
                if name not in used_names:
                    break
                name = f"{name} {chr(65 + rng.integers(26))}."
                if name not in used_names:
                    break
            used_names.add(name)
            idx.append(len(author_names))
            author_names.append(name)
        taste_authors.append(idx)

    nb = len(_BRANDS)
    brand_pref = np.full((tastes, nb), 0.04)
    for k in range(tastes):  # two favourite publishers, shared with the neighbouring tastes
        brand_pref[k, k % nb] += 0.5
        brand_pref[k, (k + 1) % nb] += 0.3
    brand_pref /= brand_pref.sum(1, keepdims=True)

    titles: list[str] = []
    descs: list[str] = []
    seen_titles: dict[str, int] = {}
    author_of = np.empty(items, dtype=np.int64)
    brand_of = np.empty(items, dtype=np.int64)
    genre_rows: list[tuple[str, str]] = []
    cats: list[list[str]] = []
    for i in range(items):
        k = int(item_taste[i])
        th = themes[k]
        if rng.random() < 0.05 and tastes > 1:  # crossover author
            other = int(rng.integers(tastes - 1))
            other += other >= k
            author_of[i] = taste_authors[other][rng.integers(n_auth)]
        else:
            author_of[i] = taste_authors[k][rng.integers(n_auth)]
        brand_of[i] = rng.choice(nb, p=brand_pref[k])
        g = [th.genres[0]] if rng.random() < 0.5 else [th.genres[0], th.genres[1]]
        if rng.random() < 0.35:
            g.append(_SHARED_GENRES[0] if th.shelf != "Nonfiction" else _SHARED_GENRES[1])
        if rng.random() < 0.1:
            g.append(_SHARED_GENRES[2 + int(rng.integers(2))])
        genre_rows.extend((item_ids[i], x) for x in g)
        cats.append(["Books", th.shelf, th.category])
        title = f"{th.adjs[rng.integers(len(th.adjs))]} {th.nouns[rng.integers(len(th.nouns))]}"
        if rng.random() < 0.3:
            title = f"The {title}"
        n = seen_titles.get(title, 0)
        seen_titles[title] = n + 1
        titles.append(title if n == 0 else f"{title}, Book {n + 1}")
        w = rng.choice(len(th.words), size=5, replace=False)
        a = rng.choice(len(_FILLER_ADJ), size=2, replace=False)
        tw = [th.words[j] for j in w]
        adj = _FILLER_ADJ[a[0]]
        descs.append(
            f"{'An' if adj[0] in 'aeiou' else 'A'} {adj} {th.name} {_FILLER_NOUN[rng.integers(len(_FILLER_NOUN))]} "
            f"of {tw[0]}, {tw[1]} and {tw[2]}. "
            f"{author_names[author_of[i]]} brings {tw[3]} and {tw[4]} to this {_FILLER_ADJ[a[1]]} book."
        )

    # popularity within a taste (Zipf-like), used by users and item-item links
    pop = [1.0 / np.arange(1, len(p) + 1) ** 0.8 for p in per_taste]
    for k in range(tastes):
        rng.shuffle(pop[k])
        pop[k] = np.cumsum(pop[k]) / pop[k].sum()

    stream = _Stream(rng)

    def draw(k: int) -> int:
        return int(per_taste[k][min(int(np.searchsorted(pop[k], stream.u())), len(per_taste[k]) - 1)])

    def linked(i: int, n: int) -> list[tuple[str, str]]:
        out: set[int] = set()
        k = int(item_taste[i])
        for _ in range(n * 4):
            if len(out) >= n:
                break
            j = draw(k) if stream.u() < p_within_taste_links or tastes == 1 else stream.int(items)
            if j != i:
                out.add(j)
        return [(item_ids[i], item_ids[j]) for j in sorted(out)]

    ab = [e for i in range(items) for e in linked(i, also_buy)]
    av = [e for i in range(items) for e in linked(i, also_view)]

    # --- users: long-term taste, sessions with intents ---------------------------------------------
    user_ids = [f"U{u:05d}" for u in range(users)]
    user_taste = rng.integers(tastes, size=users)
    src: list[str] = []
    dst: list[str] = []
    rating: list[float] = []
    ts: list[int] = []
    n_sessions = 0
    for u in range(users):
        own = int(user_taste[u])
        length = history[0] + stream.int(history[1] - history[0] + 1)
        t = start_ts + stream.int(180 * 86400)
        taken: set[int] = set()
        left = length
        while left > 0:
            n = min(left, session_len[0] + stream.int(session_len[1] - session_len[0] + 1))
            if stream.u() < p_own_intent or tastes == 1:
                intent = own
            else:
                intent = stream.int(tastes - 1)
                intent += intent >= own
            n_sessions += 1
            for _ in range(n):
                k = intent if stream.u() < p_intent else own
                for _try in range(20):
                    i = draw(k)
                    if i not in taken:
                        break
                else:  # taste exhausted for this user: any unseen item of the taste, else of any taste
                    free = [int(j) for j in per_taste[k] if j not in taken]
                    free = free or [j for j in range(items) if j not in taken]
                    if not free:
                        break
                    i = int(free[0])
                taken.add(i)
                src.append(user_ids[u])
                dst.append(item_ids[i])
                mean = 4.4 if item_taste[i] == own else 3.6
                rating.append(float(min(5, max(1, round(mean + 0.7 * stream.normal())))))
                ts.append(t)
                t += 60 + stream.int(14 * 60)
            left -= n
            t += 86400 + int(-5 * 86400 * np.log1p(-stream.u()))  # exponential gap, mean 5 days

    stats: dict[str, Any] = {
        "source": "demo",
        "seed": seed,
        "tastes": tastes,
        "taste_names": [th.name for th in themes],
        "records": len(src),
        "sessions": n_sessions,
        "skipped": 0,
    }
    inter = pd.DataFrame({"src": src, "dst": dst, "rating": rating, "ts": ts, "order": np.arange(len(src))})
    rated = finish_interactions(inter, k_core, stats, source="generated demo data")

    gf = GraphFrames(stats=stats)
    user_df = pd.DataFrame({"id": user_ids, "planted_taste": user_taste.astype(np.int64)})
    if k_core > 1:
        kept_users = set(rated["src"].tolist())
        user_df = user_df[[u in kept_users for u in user_ids]]
    gf.add_nodes("User", user_df)
    years = rng.integers(1990, 2024, size=items)
    gf.add_nodes(
        "Item",
        pd.DataFrame(
            {
                "id": item_ids,
                "title": titles,
                "description": descs,
                "domain": "book",
                "year": years.astype(np.int64),
                "categories": cats,
                "planted_taste": item_taste.astype(np.int64),
            }
        ),
    )
    genres = sorted({g for _, g in genre_rows})
    gf.add_nodes("Genre", pd.DataFrame({"id": genres, "name": genres}))
    gf.add_nodes("Person", pd.DataFrame({"id": author_names, "name": author_names}))
    gf.add_nodes("Brand", pd.DataFrame({"id": list(_BRANDS), "name": list(_BRANDS)}))
    cat_names = sorted({c for cs in cats for c in cs})
    gf.add_nodes("Category", pd.DataFrame({"id": cat_names, "name": cat_names}))
    gf.add_rels("RATED", "User", "Item", rated)
    gf.add_rels("HAS_GENRE", "Item", "Genre", pd.DataFrame(genre_rows, columns=["src", "dst"]))
    gf.add_rels(
        "AUTHOR",
        "Item",
        "Person",
        pd.DataFrame({"src": item_ids, "dst": [author_names[a] for a in author_of]}),
    )
    gf.add_rels(
        "HAS_BRAND", "Item", "Brand", pd.DataFrame({"src": item_ids, "dst": [_BRANDS[b] for b in brand_of]})
    )
    gf.add_rels(
        "IN_CATEGORY",
        "Item",
        "Category",
        pd.DataFrame([(i, c) for i, cs in zip(item_ids, cats) for c in cs], columns=["src", "dst"]),
    )
    gf.add_rels("ALSO_BUY", "Item", "Item", pd.DataFrame(ab, columns=["src", "dst"]))
    gf.add_rels("ALSO_VIEW", "Item", "Item", pd.DataFrame(av, columns=["src", "dst"]))
    if kg_triples or kg_entities:
        _add_knowledge(gf, np.random.default_rng([seed, 1]), item_ids, item_taste, themes,
                       kg_entities, kg_triples, p_kg_taste)
    check_endpoints(gf)
    return gf


#: The optional knowledge layer: (relationship type, target label, share of triples, per-taste pool?),
#: shaped like DBpedia's book triples (dct:subject dominates; awards, publishers and languages are shared).
KG_RELATIONS: tuple[tuple[str, str, float, bool], ...] = (
    ("HAS_SUBJECT", "Subject", 0.45, True),
    ("IN_SERIES", "Series", 0.10, True),
    ("LITERARY_GENRE", "LiteraryGenre", 0.08, True),
    ("COVER_ARTIST", "Person", 0.12, True),
    ("COUNTRY", "Place", 0.08, True),
    ("PUBLISHED_BY", "Company", 0.07, False),
    ("WON_AWARD", "Award", 0.05, False),
    ("IN_LANGUAGE", "Language", 0.05, False),
)
_KG_ENTITY_SHARE = {"Subject": 0.45, "Person": 0.30, "Series": 0.12, "Place": 0.05, "Company": 0.03,
                    "Award": 0.02, "LiteraryGenre": 0.02, "Language": 0.01}


def _add_knowledge(
    gf: GraphFrames, rng: np.random.Generator, item_ids: list[str], item_taste: np.ndarray,
    themes: tuple[_Theme, ...], n_entities: int, n_triples: int, p_taste: float,
) -> None:
    """Entity pools per label (split into per-taste sub-pools named from the taste's vocabulary) and
    ``n_triples`` distinct item → entity edges."""
    if n_entities < 0 or n_triples < 0:
        raise ConfigError(f"kg_entities and kg_triples must be >= 0, got {n_entities}, {n_triples}")
    if not 0.0 <= p_taste <= 1.0:
        raise ConfigError(f"p_kg_taste must be in [0, 1], got {p_taste}")
    tastes = len(themes)
    total = sum(_KG_ENTITY_SHARE.values())
    pools: dict[str, list[np.ndarray]] = {}
    for label, share in _KG_ENTITY_SHARE.items():
        n = max(tastes, round(max(n_entities, 1) * share / total))
        ent_taste = np.arange(n) % tastes
        names = []
        for k, t in enumerate(ent_taste):
            th = themes[int(t)]
            if label in ("Subject", "Series", "LiteraryGenre"):
                word = th.words[k // tastes % len(th.words)].title()
                names.append(f"{word} ({th.category} {label.lower()} {k})" if label != "LiteraryGenre"
                             else f"{word} {th.category}")
            elif label == "Person":
                names.append(f"{_FIRST[rng.integers(len(_FIRST))]} {_LAST[rng.integers(len(_LAST))]} ({k})")
            else:
                names.append(f"{label} {k}")
        ids = np.array([f"http://dbpedia.org/resource/Demo_{label}_{k}" for k in range(n)])
        gf.add_nodes(label, pd.DataFrame({"id": ids, "name": names}))
        pools[label] = [ids[ent_taste == t] for t in range(tastes)] + [ids]
    rel_share = np.array([r[2] for r in KG_RELATIONS])
    items = np.asarray(item_ids)
    edges: dict[int, set[tuple[int, str]]] = {r: set() for r in range(len(KG_RELATIONS))}
    made, guard = 0, 0
    while made < n_triples and guard < 50:
        need = n_triples - made
        rel_of = rng.choice(len(KG_RELATIONS), need, p=rel_share / rel_share.sum())
        src = rng.integers(0, len(items), need)
        own = rng.random(need) < p_taste
        pick = rng.random(need)
        for r, i, o, u in zip(rel_of.tolist(), src.tolist(), own.tolist(), pick.tolist()):
            _, label, _, tasteful = KG_RELATIONS[r]
            pool = pools[label][int(item_taste[i])] if tasteful and o else pools[label][-1]
            pair = (i, str(pool[int(u * len(pool))]))
            if pair not in edges[r]:
                edges[r].add(pair)
                made += 1
                if made == n_triples:
                    break
        guard += 1
    for r, pairs in edges.items():
        if pairs:
            rel, label, _, _ = KG_RELATIONS[r]
            ordered = sorted(pairs)
            gf.add_rels(rel, "Item", label, pd.DataFrame({"src": items[[i for i, _ in ordered]],
                                                          "dst": [e for _, e in ordered]}))
