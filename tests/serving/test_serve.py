"""`persona serve`: a run loaded once answers HTTP with the lists and reasons the CLI prints, on both stores;
every failure is JSON with its status (never a traceback), secrets are not echoed, threads agree."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from persona.cli import app

runner = CliRunner()
pytestmark = pytest.mark.slow
SESSION = ["B000000001", "B000000002", "B000000007"]


def ok(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, (args, res.output, res.exception)
    return res.stdout


class Trained:
    """A demo store trained with few epochs, its config file (absolute workdir) and its run id."""

    def __init__(self, uri: str, config: Path, run: str) -> None:
        self.uri, self.config, self.run = uri, config, run

    def cli(self, *args: str) -> Any:
        return json.loads(ok(*args, "--json", "--store", self.uri, "--config", str(self.config)))


@pytest.fixture(scope="module", params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    tmp = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "embedded":
        uri = f"embedded:{tmp / 'kg.db'}"
    else:
        uri = os.environ.get("NEO4J_URI", "")
        if not uri:
            pytest.skip("NEO4J_URI is not set; start a server with `scripts/neo4j.sh start` and export NEO4J_URI")
        from persona.kgstore import open_store

        s = open_store(uri)
        s.clear()
        s.close()
    cfg = tmp / "persona.toml"
    cfg.write_text(f'workdir = "{tmp / ".persona"}"\n[hdgi]\nepochs = 3\nhidden = 16\n'
                   "[rec]\nepochs = 2\nhidden = 16\nblocks = 1\neval_every = 1\nbatch_size = 256\n")
    ok("ingest", "demo", "--users", "80", "--items", "60", "-q", "--store", uri, "--config", str(cfg))
    ok("train", "-q", "--store", uri, "--config", str(cfg))
    runs = json.loads(ok("runs", "--json", "--store", uri, "--config", str(cfg)))
    yield Trained(uri, cfg, runs[0]["id"])
    if request.param == "neo4j":
        from persona.kgstore import open_store

        s = open_store(uri)
        s.clear()
        s.close()


@pytest.fixture(scope="module")
def server(trained: Trained) -> Iterator[tuple[str, int]]:
    """``persona serve``'s server, in this process, on a free loopback port."""
    from persona.config import load_settings
    from persona.serve import WarmRun, make_server

    warm = WarmRun.load(load_settings(trained.config, store=trained.uri))
    srv = make_server(warm, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[0], srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def call(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None, *,
         raw: bytes | None = None) -> tuple[int, Any, http.client.HTTPResponse]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data is not None else {})
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.getheader("Content-Type", "").startswith("application/json"), (path, resp.getheader("Content-Type"))
    assert "Traceback" not in text
    return resp.status, json.loads(text), resp


def connect(server: tuple[str, int]) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(server[0], server[1], timeout=60)


def test_served_answers_equal_the_cli(trained: Trained, server: tuple[str, int]):
    conn = connect(server)
    status, health, _ = call(conn, "GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["run"] == trained.run
    assert health["users"] == 80 and health["items"] == 60
    for user, k in (("U00001", 10), ("U00002", 5), ("U00040", 1)):
        status, got, _ = call(conn, "GET", f"/users/{user}/recommendations?k={k}")
        assert status == 200 and got["run"] == trained.run and got["user"] == user
        want = trained.cli("recommend", "--user", user, "--k", str(k), "--run", trained.run)
        assert got["items"] == want and len(want) == k
    status, got, _ = call(conn, "POST", "/sessions/recommendations", {"items": SESSION, "k": 7})
    assert status == 200 and got["session"] == SESSION
    assert got["items"] == trained.cli("recommend", "--items", ",".join(SESSION), "--k", "7", "--run", trained.run)
    assert not set(SESSION) & {r["item"] for r in got["items"]}

    def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
        keys = ("rank", "item", "title", "score", "reason", "paths")
        assert [{k: r[k] for k in keys} for r in a] == [{k: r[k] for k in keys} for r in b]

    # a user's reasons: the CLI explains the written-back list of the same run, the server its own list
    status, got, _ = call(conn, "GET", "/users/U00001/explain")
    assert status == 200 and len(got["items"]) == 10 and any(r["paths"] for r in got["items"])
    same(got["items"], trained.cli("explain", "--user", "U00001", "--run", trained.run))
    first = got["items"][0]["item"]
    status, one, _ = call(conn, "GET", f"/users/U00001/explain?item={first}&paths=1")
    assert status == 200 and [r["item"] for r in one["items"]] == [first] and len(one["items"][0]["paths"]) <= 1
    status, got, _ = call(conn, "POST", "/sessions/explain", {"items": SESSION, "k": 5, "paths": 2})
    assert status == 200 and len(got["items"]) == 5 and all(r["reason"] for r in got["items"])
    same(got["items"], trained.cli("explain", "--items", ",".join(SESSION), "--top-k", "5", "--k", "2", "--run", trained.run))


def test_failures_are_json_with_their_status(trained: Trained, server: tuple[str, int]):
    conn = connect(server)  # one keep-alive connection: every refusal leaves it usable
    cases: list[tuple[str, str, Any, int, str]] = [
        ("GET", "/users/nobody/recommendations", None, 404, "unknown user 'nobody'"),
        ("GET", "/users/U00001/recommendations?k=0", None, 400, "k: expected an integer from 1 to 100"),
        ("GET", "/users/U00001/recommendations?k=101", None, 400, "from 1 to 100"),
        ("GET", "/users/U00001/recommendations?k=ten", None, 400, "k: expected an integer"),
        ("GET", "/users/U00001/recommendations?k=1&k=2", None, 400, "given 2 times"),
        ("GET", "/users/U00001/recommendations?top=3", None, 400, "unknown query parameter(s) top"),
        ("GET", "/users/U00001/explain?item=B000000059x", None, 404, "is not among user 'U00001'"),
        ("GET", "/users/U00001/explain?paths=0", None, 400, "paths: expected an integer from 1 to 20"),
        ("GET", "/users/U00001", None, 404, "no such route"),
        ("GET", "/nowhere", None, 404, "no such route"),
        ("POST", "/users/U00001/recommendations", {"k": 3}, 405, "use GET"),
        ("GET", "/sessions/recommendations", None, 405, "use POST"),
        ("DELETE", "/health", None, 405, "use GET"),
        ("POST", "/sessions/recommendations", None, 400, "expected a JSON object body"),
        ("POST", "/sessions/recommendations", [SESSION], 400, "expected a JSON object"),
        ("POST", "/sessions/recommendations", {"items": "B000000001"}, 400, "items: expected a list"),
        ("POST", "/sessions/recommendations", {"items": []}, 400, "the session is empty"),
        ("POST", "/sessions/recommendations", {"items": SESSION, "k": True}, 400, "k: expected an integer"),
        ("POST", "/sessions/recommendations", {"items": SESSION, "top": 3}, 400, "unknown field(s) top"),
        ("POST", "/sessions/recommendations", {"items": ["nope1", "B000000001"]}, 404, "unknown item(s) ['nope1']"),
        ("POST", "/sessions/explain", {"items": ["nope1"]}, 404, "unknown item(s)"),
    ]
    for method, path, body, status, words in cases:
        got_status, got, resp = call(conn, method, path, body)
        assert got_status == status, (method, path, got)
        assert set(got) == {"error"} and got["error"]["status"] == status and words in got["error"]["message"], (path, got)
        if status == 405:
            assert resp.getheader("Allow") in ("GET", "POST")
    got_status, got, _ = call(conn, "POST", "/sessions/recommendations", raw=b"{not json")
    assert got_status == 400 and "not valid JSON" in got["error"]["message"]
    assert call(conn, "GET", "/users/U00001/recommendations?k=2")[0] == 200  # the connection still works

    # an oversized body is refused before it is read; a malformed request line gets JSON too
    big = connect(server)
    big.putrequest("POST", "/sessions/recommendations")
    big.putheader("Content-Length", str(10 << 20))
    big.endheaders()
    resp = big.getresponse()
    assert resp.status == 413 and json.loads(resp.read())["error"]["status"] == 413
    with socket.create_connection(server, timeout=30) as s:
        s.sendall(b"GET / two words HTTP/1.1\r\n\r\n")
        chunks = []
        while chunk := s.recv(65536):  # the server closes the connection after a malformed request
            chunks.append(chunk)
        reply = b"".join(chunks).decode()
    assert reply.startswith("HTTP/1.1 400") and '"status": 400' in reply and "Traceback" not in reply

    # an id the client sends is echoed in the message, but a password in it never is
    secret = urllib.parse.quote("bolt://neo4j:s3cret-pw@db.example:7687", safe="")
    got_status, got, _ = call(conn, "GET", f"/users/{secret}/recommendations")
    assert got_status == 404 and "s3cret-pw" not in json.dumps(got) and "***" in got["error"]["message"]


def test_health_never_shows_the_store_password(trained: Trained, server: tuple[str, int]):
    from persona.config import load_settings

    password = load_settings(trained.config, store=trained.uri).neo4j.password.get_secret_value()
    _, health, _ = call(connect(server), "GET", "/health")
    assert password not in json.dumps(health) and "store" not in health


def test_threads_answer_like_one_client(server: tuple[str, int]):
    users = [f"U{n:05d}" for n in range(1, 17)]
    conn = connect(server)
    want = {u: call(conn, "GET", f"/users/{u}/recommendations")[1] for u in users}
    want_session = call(conn, "POST", "/sessions/recommendations", {"items": SESSION})[1]

    def ask(n: int) -> bool:
        c = connect(server)
        u = users[n % len(users)]
        same = call(c, "GET", f"/users/{u}/recommendations")[1] == want[u]
        if n % 4 == 0:
            same = same and call(c, "POST", "/sessions/recommendations", {"items": SESSION})[1] == want_session
        c.close()
        return same

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(ask, range(48)))


def test_cli_serves_on_loopback_and_refuses_in_one_line(trained: Trained):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen([sys.executable, "-m", "persona.cli", "serve", "--store", trained.uri, "--config", str(trained.config),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"serving run {trained.run}" in line and "http://127.0.0.1:" in line, (line, proc.stderr and proc.stderr.read())
        port = int(line.split("http://127.0.0.1:", 1)[1].split()[0])
        status, health, _ = call(http.client.HTTPConnection("127.0.0.1", port, timeout=60), "GET", "/health")
        assert status == 200 and health["run"] == trained.run
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    def fails(*args: str) -> str:
        res = runner.invoke(app, ["serve", *args, "--store", trained.uri, "--config", str(trained.config)])
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output
        return res.output

    assert "unknown run 'nope'" in fails("--run", "nope")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert "cannot listen on 127.0.0.1" in fails("--port", str(taken.getsockname()[1]))
