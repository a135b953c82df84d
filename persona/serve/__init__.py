"""Warm serving: ``persona serve`` keeps a train run loaded and answers HTTP requests with JSON.

:class:`WarmRun` (:mod:`._warm`) is the run in memory — models, titles, personas, explanation index —
with the four questions ``persona recommend`` and ``persona explain`` answer, each now a computation
only; :func:`make_server` (:mod:`._http`) puts it behind a standard-library threading HTTP server.

Routes (all answers JSON; ``k`` is a list length 1–100, default 10; ``paths`` the paths per explained
item 1–20, default 3):

========================================  =======================================================
``GET /health``                           ``{"status": "ok", "run", "created_at", "persona_run",
                                          "store_id", "users", "items", "retriever", "max_k",
                                          "load_seconds"}``
``GET /users/{id}/recommendations?k=``    ``{"run", "user", "k", "items": [{"rank", "item", "title",
                                          "score"}]}`` — the list of ``persona recommend --user``
``GET /users/{id}/explain?k=&paths=&item=``  ``{"run", "user", "k", "items": [{"rank", "item", "title",
                                          "score", "reason", "paths": [...]}]}``; ``item``: only it
``POST /sessions/recommendations``        body ``{"items": ["id", …], "k": 10}`` → ``{"run",
                                          "session", "k", "items": [...]}``
``POST /sessions/explain``                body ``{"items": [...], "k": 10, "paths": 3}`` → as above,
                                          each item with ``reason`` and ``paths``
========================================  =======================================================

A path is :meth:`persona.explain.Path.as_dict`: ``kind`` (entity | item | users), ``score``, ``text``,
``nodes`` [{label, id, name}], ``rels``. Errors: ``{"error": {"status": N, "message": "…"}}`` with 400
(bad parameter or body), 404 (unknown user, item or route), 405 (wrong method; ``Allow`` names the
right one), 411/413 (chunked or oversized body), 503 (store or model unusable), 500 (a bug; the
traceback is in the server's log only).
"""

from __future__ import annotations

from ._http import MAX_BODY, ROUTES, PersonaServer, make_server, status_of
from ._warm import MAX_K, MAX_PATHS, WarmRun

__all__ = ["MAX_BODY", "MAX_K", "MAX_PATHS", "ROUTES", "PersonaServer", "WarmRun", "make_server", "status_of"]
