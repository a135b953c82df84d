"""The explorer never offers the server's credentials to a host a visitor chooses, and binds 127.0.0.1.

A fake Bolt listener on loopback stands for "a host the visitor typed": before, the sidebar's Store URI
box made the server log in there with the operator's NEO4J_PASSWORD.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from persona.app import explorer_path, streamlit_command

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from ..app.conftest import build_store

SECRET = "operator-secret-pw-42"


class FakeBolt:
    """Accepts connections on 127.0.0.1 and records every byte received (bounded: 5 s, 64 KiB)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 60
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(1.0)
            try:
                while len(self.received) < 65536:
                    data = conn.recv(4096)
                    if not data:
                        break
                    self.received += data
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def fake_bolt():
    f = FakeBolt()
    yield f
    f.close()


@pytest.fixture(autouse=True)
def _fresh_cache():
    import streamlit as st

    yield
    st.cache_resource.clear()


def _run(monkeypatch, uri: str, stores: str | None = None, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("PERSONA_STORE", uri)
    monkeypatch.setenv("NEO4J_PASSWORD", SECRET)
    if stores is not None:
        monkeypatch.setenv("PERSONA_APP__STORES", stores)
    at = AppTest.from_file(str(explorer_path()), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_no_widget_takes_a_store_uri(monkeypatch, tmp_path: Path, fake_bolt: FakeBolt):
    uri = build_store(tmp_path / "kg.db")
    at = _run(monkeypatch, uri, query={"store": f"bolt://127.0.0.1:{fake_bolt.port}"})
    # no text box can carry a URI; the query string is ignored
    for box in at.text_input:
        assert "store" not in (box.label or "").lower() and "uri" not in (box.label or "").lower()
        box.set_value(f"bolt://neo4j@127.0.0.1:{fake_bolt.port}").run()
    time.sleep(0.5)
    assert fake_bolt.connections == 0 and SECRET.encode() not in fake_bolt.received


def test_only_operator_listed_stores_are_offered(monkeypatch, tmp_path: Path, fake_bolt: FakeBolt):
    uri = build_store(tmp_path / "kg.db")
    other = build_store(tmp_path / "other.db")
    at = _run(monkeypatch, uri, stores=f'["{other}"]')
    (box,) = [s for s in at.selectbox if s.label == "Store"]
    assert list(box.options) == [uri, other]
    with pytest.raises(ValueError, match="is not in list"):  # the box offers only the listed stores
        box.set_value(f"bolt://127.0.0.1:{fake_bolt.port}").run()
    assert fake_bolt.connections == 0


def test_credentials_in_a_configured_uri_are_masked(monkeypatch, tmp_path: Path):
    uri = build_store(tmp_path / "kg.db")
    at = _run(monkeypatch, uri, stores=f'["bolt://neo4j:{SECRET}@127.0.0.1:1"]')
    (box,) = [s for s in at.selectbox if s.label == "Store"]
    assert all(SECRET not in str(o) for o in box.options)
    box.set_value(f"bolt://neo4j:{SECRET}@127.0.0.1:1").run()
    page = " ".join(str(e.value) for kind in ("error", "caption", "info", "markdown") for e in at.get(kind))
    assert "Cannot reach the store" in page and SECRET not in page


def test_streamlit_binds_loopback_by_default():
    cmd = streamlit_command(8599)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"


def _listening(port: int) -> list[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    out = []
    for name in ("tcp", "tcp6"):
        p = Path(f"/proc/net/{name}")
        if not p.exists():
            continue
        for line in p.read_text().splitlines()[1:]:
            parts = line.split()
            addr, state = parts[1], parts[3]
            host, hport = addr.rsplit(":", 1)
            if state == "0A" and int(hport, 16) == port:
                out.append(host)
    return out


@pytest.mark.slow
def test_persona_app_listens_on_loopback_only(tmp_path: Path):
    uri = build_store(tmp_path / "kg.db")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PERSONA_STORE": uri}
    proc = subprocess.Popen([sys.executable, "-m", "persona.cli", "app", "--headless", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        hosts: list[str] = []
        while time.monotonic() < deadline and not hosts:
            time.sleep(0.5)
            hosts = _listening(port)
        # 0100007F is 127.0.0.1 in /proc/net/tcp; every-interface would be 00000000 (or :: in tcp6)
        assert hosts and set(hosts) == {"0100007F"}, hosts
    finally:
        proc.terminate()
        proc.wait(20)
