"""A real OpenAI-compatible chat endpoint for tests: ``http.server`` on 127.0.0.1.

``POST /v1/chat/completions`` answers deterministically from the last user message:

* ``"ECHO: <text>"`` for ordinary prompts (so tests can check which prompt was answered);
* the first request carrying ``FLAKY`` gets HTTP 500, later ones succeed (exercises retries);
* ``SLOW`` sleeps ``slow_s`` seconds before answering (exercises timeouts);
* ``BAD`` gets HTTP 400;
* ``THINK`` answers with a Qwen3-style ``<think>…</think>`` block before the text.

It records every request body and the largest number of requests it served at once.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import Self


class ChatServer:
    """Use as ``with ChatServer() as srv: srv.url``; ``srv.requests`` lists request bodies."""

    def __init__(self, *, delay_s: float = 0.0, slow_s: float = 2.0, api_key: str | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self.delay_s = delay_s
        self.slow_s = slow_s
        self.api_key = api_key
        self._in_flight = 0
        self._flaky_seen: set[str] = set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": f"no route {self.path}"})
                    return
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self._send(401, {"error": "bad key"})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with server._lock:
                    server.requests.append(body)
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    prompt = body["messages"][-1]["content"]
                    time.sleep(server.delay_s)
                    if "FLAKY" in prompt:
                        with server._lock:
                            first = prompt not in server._flaky_seen
                            server._flaky_seen.add(prompt)
                        if first:
                            self._send(500, {"error": "transient"})
                            return
                    if "SLOW" in prompt:
                        time.sleep(server.slow_s)
                    if "BAD" in prompt:
                        self._send(400, {"error": "bad request"})
                        return
                    text = f"ECHO: {prompt[-60:]}"
                    if "THINK" in prompt:
                        text = "<think>let me reason about it</think>\n\n" + text
                    self._send(
                        200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
                    )
                finally:
                    with server._lock:
                        server._in_flight -= 1

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
