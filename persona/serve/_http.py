"""The HTTP side of ``persona serve``: routes, JSON bodies, errors as JSON with their status code.

Standard library only (:class:`http.server.ThreadingHTTPServer`): one thread per connection, HTTP/1.1
keep-alive, Nagle off so a small answer is not held back by the client's delayed ACK. Every answer is
JSON; every failure is ``{"error": {"status": N, "message": "..."}}`` — a :class:`~persona.errors.PersonaError`
with its status (400 bad input, 404 unknown user/item/route, 503 store or model trouble), anything else a
500 whose traceback goes to the server's log, never to the client. Messages pass through ``mask`` so a
password in a URI never leaves the process.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import traceback
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from persona._json import dumps
from persona.errors import ConfigError, NotFoundError, PersonaError
from persona.kgstore import mask_uri

from ._warm import WarmRun

#: Largest request body read (a session of item ids is a few KiB).
MAX_BODY = 1 << 20

Handler = Callable[["_Request"], Any]


class HTTPError(Exception):
    """A failure with its HTTP status (routing and body errors; PersonaErrors are mapped in :func:`status_of`)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def status_of(e: PersonaError) -> int:
    """400 for input the client can fix, 404 for an id the run does not know, 503 for the rest (a store
    or model the server cannot use)."""
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, ConfigError):
        return 400
    return 503


class _Request:
    """What a route reads: path parameters, the query string (each name once, unknown names refused)
    and the JSON body."""

    def __init__(self, warm: WarmRun, params: dict[str, str], query: dict[str, list[str]], body: bytes | None) -> None:
        self.warm, self.params, self._query, self._body = warm, params, query, body

    def query(self, allowed: tuple[str, ...]) -> dict[str, str]:
        extra = sorted(set(self._query) - set(allowed))
        if extra:
            raise HTTPError(400, f"unknown query parameter(s) {', '.join(extra)}; expected {', '.join(allowed) or 'none'}")
        out = {}
        for name, values in self._query.items():
            if len(values) != 1:
                raise HTTPError(400, f"query parameter {name!r} given {len(values)} times; give it once")
            out[name] = values[0]
        return out

    def json(self, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not self._body:
            raise HTTPError(400, "expected a JSON object body, e.g. {\"items\": [\"id\", …], \"k\": 10}")
        try:
            data = json.loads(self._body)
        except (ValueError, UnicodeDecodeError) as e:
            raise HTTPError(400, f"the body is not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise HTTPError(400, f"expected a JSON object, got {type(data).__name__}")
        extra = sorted(set(data) - set(allowed))
        if extra:
            raise HTTPError(400, f"unknown field(s) {', '.join(extra)}; expected {', '.join(allowed)}")
        return data


def _int(value: Any, name: str, default: int) -> int:
    """An integer parameter from a query string (text) or a JSON body (a number); range checks are
    :class:`WarmRun`'s."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise HTTPError(400, f"{name}: expected an integer, got {json.dumps(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
        return int(value)
    raise HTTPError(400, f"{name}: expected an integer, got {json.dumps(value)}")


def _items(data: dict[str, Any]) -> list[str]:
    items = data.get("items")
    if not isinstance(items, list) or not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in items):
        raise HTTPError(400, "items: expected a list of item ids (strings), oldest first, e.g. {\"items\": [\"50\", \"181\"]}")
    return [str(i) for i in items]


# ---------------------------------------------------------------------- routes
def _health(req: _Request) -> Any:
    req.query(())
    return {"status": "ok", **req.warm.describe()}


def _user_list(req: _Request) -> Any:
    q = req.query(("k",))
    k = _int(q.get("k"), "k", 10)
    user = req.params["user"]
    return {"run": req.warm.run.id, "user": user, "k": k, "items": req.warm.recommend_user(user, k)}


def _user_explain(req: _Request) -> Any:
    q = req.query(("item", "k", "paths"))
    k, paths = _int(q.get("k"), "k", 10), _int(q.get("paths"), "paths", 3)
    user = req.params["user"]
    return {"run": req.warm.run.id, "user": user, "k": k,
            "items": req.warm.explain_user(user, item=q.get("item"), k=k, paths=paths)}


def _session_list(req: _Request) -> Any:
    req.query(())
    data = req.json(("items", "k"))
    items, k = _items(data), _int(data.get("k"), "k", 10)
    return {"run": req.warm.run.id, "session": items, "k": k, "items": req.warm.recommend_session(items, k)}


def _session_explain(req: _Request) -> Any:
    req.query(())
    data = req.json(("items", "k", "paths"))
    items, k, paths = _items(data), _int(data.get("k"), "k", 10), _int(data.get("paths"), "paths", 3)
    return {"run": req.warm.run.id, "session": items, "k": k,
            "items": req.warm.explain_session(items, k=k, paths=paths)}


#: ``(pattern, {method: handler})``; a path parameter is one percent-encoded segment.
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/health"), {"GET": _health}),
    (re.compile(r"/users/(?P<user>[^/]+)/recommendations"), {"GET": _user_list}),
    (re.compile(r"/users/(?P<user>[^/]+)/explain"), {"GET": _user_explain}),
    (re.compile(r"/sessions/recommendations"), {"POST": _session_list}),
    (re.compile(r"/sessions/explain"), {"POST": _session_explain}),
]
_ROUTE_LIST = "GET /health, GET /users/{id}/recommendations, GET /users/{id}/explain, " \
              "POST /sessions/recommendations, POST /sessions/explain"


def _route(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    for pattern, methods in ROUTES:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        handler = methods.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = ", ".join(sorted(methods))
            raise HTTPError(405, f"{method} is not allowed on {path}; use {allowed}", {"Allow": allowed})
        return handler, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
    raise HTTPError(404, f"no such route: {path} (routes: {_ROUTE_LIST})")


def _body(o: Any) -> bytes:
    return dumps(o, indent=None).encode("utf-8")


class PersonaServer(ThreadingHTTPServer):
    """A :class:`ThreadingHTTPServer` answering for one :class:`WarmRun`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], warm: WarmRun, *, access_log: bool = False,
                 mask: Callable[[str], str] = mask_uri) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.warm, self.access_log, self.mask = warm, access_log, mask

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: PersonaServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True
    timeout = 60  # seconds an idle keep-alive connection (and its thread) is kept
    server_version = "persona-serve"

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            body = self._read_body()  # first, so that a refused request leaves the connection usable
            url = urllib.parse.urlsplit(self.path)
            handler, params = _route(self.command, url.path)
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            out = handler(_Request(self.server.warm, params, query, body))
            self._send(200, out)
        except HTTPError as e:
            self._send_error(e.status, e.message, e.headers)
        except PersonaError as e:
            self._send_error(status_of(e), str(e))
        except Exception as e:  # noqa: BLE001 — a bug: the client gets a 500, the log gets the traceback
            self.log_error("%s", self.server.mask("".join(traceback.format_exception(type(e), e, e.__traceback__))))
            self._send_error(500, f"internal error ({type(e).__name__}); see the server's log")

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise HTTPError(411, "chunked bodies are not accepted; send Content-Length")
        if length is None:
            return None
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            raise HTTPError(400, f"Content-Length {length!r} is not a number") from None
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            raise HTTPError(413, f"body of {n} bytes; at most {MAX_BODY} are read")
        return self.rfile.read(n) if n else None

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"status": status, "message": self.server.mask(message)}}, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = _body(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's own refusals (bad request line, unsupported method, header too long) as JSON."""
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = message or "error"
        self.close_connection = True
        if not getattr(self, "command", None):
            self.command = ""
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":  # refused before its version was read
            self.request_version = "HTTP/1.1"  # so the answer still has a status line and headers
        self._send_error(code, text)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            sys.stderr.write(self.server.mask(f"{self.address_string()} - {format % args}") + "\n")

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out") and not self.server.access_log:
            return  # an idle keep-alive connection closing: routine
        sys.stderr.write(self.server.mask(f"{self.address_string()} - {format % args}") + "\n")


def make_server(warm: WarmRun, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False,
                mask: Callable[[str], str] = mask_uri) -> PersonaServer:
    """A server bound to ``host:port`` (``port`` 0: a free one, see :attr:`PersonaServer.url`); call
    ``serve_forever()`` on it.

    Raises:
        ResourceError: the address cannot be bound (in use, not this machine's).
    """
    from persona.errors import ResourceError

    try:
        return PersonaServer((host, port), warm, access_log=access_log, mask=mask)
    except OSError as e:
        raise ResourceError(f"cannot listen on {host}:{port}: {e.strerror or e}; pick another --port or --host") from None
