"""Graph access: one :class:`GraphStore` protocol, two backends chosen by a store URI.

``embedded:PATH`` opens LadybugDB (the zero-setup default); ``bolt://…`` / ``neo4j://…`` opens a Neo4j
server. Nothing outside this package imports ``ladybug`` or ``neo4j``.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote

from ._protocol import GraphStore, Progress, StoreError
from .frames import GraphFrames, RelFrame
from .schema import ENTITY_LABELS, NODE_TYPES, PREDICATES, REL_TYPES, PredicateRule, register_predicate

__all__ = [
    "ENTITY_LABELS",
    "NODE_TYPES",
    "PREDICATES",
    "REL_TYPES",
    "GraphFrames",
    "GraphStore",
    "PredicateRule",
    "Progress",
    "RelFrame",
    "StoreError",
    "mask_uri",
    "open_store",
    "parse_uri",
    "register_predicate",
]


_NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


_URI_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*):[^@\s/]*@")


def mask_uri(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***``
    (``bolt://neo4j:secret@host`` → ``bolt://neo4j:***@host``); a URI or a whole message."""
    return _URI_PASSWORD.sub(r"\1:***@", text)


def parse_uri(uri: str) -> tuple[str, str, str | None, str | None]:
    """Split a store URI into (backend, location, user, password).

    ``embedded:PATH`` (or a bare path with no scheme) → ``("embedded", PATH, None, None)``;
    ``bolt://[user[:password]@]host[:port]`` and the other Neo4j schemes → ``("neo4j", URI without the
    credentials, user, password)``.

    Raises:
        StoreError: an unknown scheme, a Neo4j scheme with a typo (``bolt//host``, ``bolt:host``), an
            embedded scheme with a typo (``embeded:x.db``) or an empty path; the URI is masked.
    """
    shown = mask_uri(uri)
    expected = "expected embedded:PATH, bolt://host:port or neo4j://host:port"
    if not uri or not uri.strip():
        raise StoreError(f"empty store URI; {expected}")
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", uri)
    if m and len(m.group(1)) > 1:  # "C:\\…" on Windows is a drive, not a scheme
        scheme, rest = m.group(1).lower(), m.group(2)
        if scheme == "embedded":
            if not rest or rest.startswith("//"):
                raise StoreError(f"store URI {shown!r}: expected embedded:PATH with a file path, e.g. embedded:persona.db")
            return "embedded", rest, None, None
        if scheme in _NEO4J_SCHEMES:
            if not rest.startswith("//") or len(rest) <= 2:
                raise StoreError(f"store URI {shown!r}: expected {scheme}://host:port")
            netloc = rest[2:]
            user = password = None
            if "@" in netloc.split("/", 1)[0]:
                cred, netloc = netloc.split("@", 1)
                user, _, pw = cred.partition(":")
                user = unquote(user) or None
                password = unquote(pw) if pw else None
            return "neo4j", f"{scheme}://{netloc}", user, password
        raise StoreError(f"unknown store URI scheme {scheme!r} in {shown!r}; {expected}")
    if "://" in uri or re.match(r"^[A-Za-z+]+//", uri) or re.match(r"^(bolt|neo4j)\b", uri, re.I):
        raise StoreError(f"store URI {shown!r} is not a valid URI; {expected}")
    return "embedded", uri, None, None


def open_store(
    uri: str,
    *,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    read_only: bool = False,
    create: bool = True,
    driver: Any = None,
) -> GraphStore:
    """Open the store named by ``uri``.

    Args:
        uri: ``embedded:PATH`` (or a bare path) for LadybugDB; ``bolt://``, ``bolt+s://``, ``neo4j://``,
            ``neo4j+s://`` for Neo4j (``user:password@`` in the URI is taken as the credentials and never
            shown in messages).
        user: Neo4j user (defaults to the URI's, then ``NEO4J_USER`` or ``neo4j``).
        password: Neo4j password (defaults to the URI's, then ``NEO4J_PASSWORD``).
        database: Neo4j database name (server default if None).
        read_only: Refuse every write, on both backends: :meth:`GraphStore.run` checks each statement's
            plan (see the backends), write methods raise, and the embedded file is opened read-only.
        create: Embedded store only: create the database when ``PATH`` does not exist (ingest does;
            training and queries refuse a missing store instead of creating an empty one).
        driver: Neo4j only: an existing :class:`neo4j.Driver` to use (the caller keeps closing it).

    Raises:
        StoreError: the store cannot be opened; the message says why and what to do.
    """
    backend, location, uri_user, uri_password = parse_uri(uri)
    if backend == "neo4j":
        from persona.config import Neo4jSettings  # the one definition of the credentials' defaults

        from .neo4j import Neo4jStore

        default = Neo4jSettings()
        return Neo4jStore(
            location,
            user=user or uri_user or os.environ.get("NEO4J_USER", default.user),
            password=password if password is not None else uri_password if uri_password is not None
            else os.environ.get("NEO4J_PASSWORD", default.password.get_secret_value()),
            database=database,
            read_only=read_only,
            driver=driver,
        )
    from .embedded import EmbeddedStore

    return EmbeddedStore(location, read_only=read_only, create=create)
