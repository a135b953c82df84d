"""A real SPARQL 1.1 endpoint for tests: pyoxigraph behind http.server on 127.0.0.1.

Implements the SPARQL protocol's query operation: GET ``?query=``, POST form-encoded ``query=``, or
POST ``application/sparql-query``; answers SELECT queries as ``application/sparql-results+json``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyoxigraph as ox


class SparqlServer:
    """Start with ``with SparqlServer(store) as srv: srv.url``; counts the queries it answered."""

    def __init__(self, store: ox.Store) -> None:
        self.store = store
        self.queries: list[str] = []
        self.methods: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _answer(self, query: str | None) -> None:
                if not query:
                    self._send(400, b"missing query", "text/plain")
                    return
                server.queries.append(query)
                server.methods.add(self.command)
                try:
                    result = server.store.query(query)
                    body = result.serialize(format=ox.QueryResultsFormat.JSON)
                except SyntaxError as e:
                    self._send(400, str(e).encode(), "text/plain")
                    return
                self._send(200, body, "application/sparql-results+json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(parse_qs(urlparse(self.path).query).get("query", [None])[0])

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(n).decode("utf-8")
                ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
                if ctype == "application/sparql-query":
                    self._answer(data)
                else:
                    self._answer(parse_qs(data).get("query", [None])[0])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sparql"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SparqlServer:  # noqa: PYI034 - Python 3.10 has no typing.Self
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Shut the server down and close its socket."""
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()


def load_store(*paths: Path) -> ox.Store:
    """An in-memory pyoxigraph store holding the given N-Triples / Turtle files (``.gz`` allowed)."""
    import gzip

    store = ox.Store()
    for p in paths:
        if p.suffix == ".gz":
            with gzip.open(p, "rb") as fh:
                data = fh.read()
        else:
            data = p.read_bytes()
        name = p.name.removesuffix(".gz")
        fmt = ox.RdfFormat.TURTLE if name.endswith(".ttl") else ox.RdfFormat.N_TRIPLES
        store.load(data, format=fmt)
    return store
