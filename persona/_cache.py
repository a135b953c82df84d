"""The one on-disk cache of persona-kg: a SQLite key → value table, safe to share between threads and
processes (WAL journal, one lock per connection).

Text embeddings (:mod:`persona.learn.text`, one file per model, float32 vectors as bytes) and LLM answers
(:mod:`persona.learn.llm`, UTF-8 text) use it; SPARQL answers are kept as readable JSON files instead
(:mod:`persona.ingest.sparql`), so a user can inspect and replay them offline.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

#: SQLite's default bound-parameter limit is 999.
_CHUNK = 900


class SqliteCache:
    """``key → bytes`` plus a small ``meta`` table of strings.

    Args:
        path: The SQLite file (its folder is created).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._conn.commit()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The cached values of ``keys`` (missing keys are absent)."""
        out: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                q = f"SELECT key, value FROM kv WHERE key IN ({','.join('?' * len(chunk))})"
                for k, v in self._conn.execute(q, chunk):
                    out[k] = bytes(v)
        return out

    def put(self, key: str, value: bytes) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", list(items))
            self._conn.commit()

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
