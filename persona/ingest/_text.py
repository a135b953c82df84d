"""Small text helpers: display names from IRIs, cleaning dirty HTML titles, MovieLens titles, domains."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

DBR = "http://dbpedia.org/resource/"

_TAG = re.compile(r"<[^<>]*>")
_OPEN_TAG_TAIL = re.compile(r"<[^<>]*$")  # '<span class="a-size-medium"' with no closing '>'
_CLOSE_TAG_HEAD = re.compile(r"^[^<>]*>")  # ' Magazines" />' : the end of a tag cut off at the front
_SPACE = re.compile(r"\s+")


def iri_name(iri: str) -> str:
    """A display name derived from an IRI: its last segment, percent-decoded, ``_`` → space.

    The parenthetical disambiguation is kept (``Flawless_(1999_film)`` → ``Flawless (1999 film)``): it
    keeps names of different entities distinct and tells a text encoder what kind of thing it is.
    """
    tail = iri.rstrip("/#")
    cut = max(tail.rfind("/"), tail.rfind("#"))
    seg = tail[cut + 1 :] if cut >= 0 else tail
    name = unquote(seg).replace("_", " ").strip()
    return name or iri


def clean_html(text: str) -> str:
    """Strip (possibly broken) HTML tags, unescape entities and collapse whitespace.

    Amazon 2018 titles in some categories are cut-off markup such as ``<span class="a-size-medium``;
    these clean to an empty string, and the caller falls back to something else.
    """
    s = html.unescape(text)
    s = _TAG.sub(" ", s)
    s = _OPEN_TAG_TAIL.sub(" ", s)
    s = _CLOSE_TAG_HEAD.sub(" ", s)
    return _SPACE.sub(" ", s).strip()


def has_words(text: str) -> bool:
    """True if ``text`` contains at least one letter or digit."""
    return any(c.isalnum() for c in text)


def snippet(text: str, limit: int = 80) -> str:
    """The first sentence of ``text``, cut at a word boundary to at most ``limit`` characters."""
    text = _SPACE.sub(" ", text).strip()
    m = re.search(r"(?<=[.!?])\s", text)
    first = text[: m.start()] if m else text
    if len(first) <= limit:
        return first.rstrip(" .")
    cut = first[:limit].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


# Trailing articles in MovieLens titles ("Usual Suspects, The (1995)"); moved back to the front.
_ARTICLES = ("The", "A", "An", "Il", "La", "Le", "Les", "El", "Das", "Der", "Die", "L'")
_ML_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ML_ARTICLE = re.compile(
    r"^(?P<base>.*?), (?P<art>" + "|".join(re.escape(a) for a in _ARTICLES) + r")(?P<alias> \(.*\))?$"
)


def movielens_title(raw: str) -> tuple[str, int | None]:
    """Split a MovieLens title into (display title, year).

    The trailing ``(YYYY)`` is removed and returned as the year; a trailing article is moved to the
    front: ``Usual Suspects, The (1995)`` → (``The Usual Suspects``, 1995). An alias in parentheses is
    kept (``Seven (Se7en)``). Anything after the year, e.g. ``(V)``, is kept too.
    """
    s = raw.strip()
    year = None
    m = _ML_YEAR.search(s)
    if m:
        year = int(m.group(1))
        s = s[: m.start()]
    else:  # "Land Before Time III: ... (1995) (V)"
        m2 = re.search(r"\s*\((\d{4})\)(?=\s*\([^()]*\)\s*$)", s)
        if m2:
            year = int(m2.group(1))
            s = s[: m2.start()] + s[m2.end() :]
    a = _ML_ARTICLE.match(s)
    if a:
        art = a.group("art")
        sep = "" if art.endswith("'") else " "
        s = f"{art}{sep}{a.group('base')}{a.group('alias') or ''}"
    return s.strip(), year


_DOMAINS = (
    ("magazine", "magazine"),
    ("book", "book"),
    ("movie", "movie"),
    ("film", "movie"),
    ("_tv", "movie"),
    ("music", "music"),
    ("game", "game"),
)


def guess_domain(name: str, default: str = "product") -> str:
    """Item domain from a file or category name (``Amazon-KG-5core-Books`` → ``book``)."""
    low = name.lower().replace(" ", "_").replace("&", "_")
    for key, dom in _DOMAINS:
        if key in low:
            return dom
    return default


# Characters that would end an IRI in N-Triples / Turtle (``<…>``) or that no IRI holds: whitespace,
# control characters, ``<``, ``>``, ``"``. (``{}|^`` are not allowed by RFC 3987 either, but rdflib and
# real dumps accept them, and so do we.)
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"]')


def bad_iri_char(iri: str) -> str | None:
    """The first character that may not appear in an IRI (space, ``<``, ``"``, control…), else None."""
    m = _NOT_IN_IRI.search(iri)
    return m.group() if m else None


def expand_entity(value: str) -> str | None:
    """An entity IRI from a link/kg value: a full IRI (``<…>`` allowed) or ``res:X`` / ``dbr:X``."""
    v = value.strip()
    if v.startswith("<") and v.endswith(">"):
        v = v[1:-1]
    if v.startswith(("http://", "https://")):
        return v
    for prefix in ("res:", "dbr:"):
        if v.startswith(prefix) and len(v) > len(prefix):
            return DBR + v[len(prefix) :]
    return None
