"""Latency of ``persona serve``: a user's top 10 on ML-100K, 1,000 sequential requests from a loopback client.

Run: ``python bench/bench_serve.py [--store URI --workdir DIR] [--requests 1000]``. Without ``--store``
it builds one first, cold, in a fresh folder (``persona ingest movielens`` ML-100K + DBpedia, then
``persona train``: about 2.5 min on 2 cores); with ``--store`` it serves that store's newest train run,
whose model files are under ``--workdir`` (the folder ``persona train`` ran in holds ``.persona``).

The server is the real command (``persona serve --port 0``) in its own process. The client, in this
process, opens one keep-alive HTTP/1.1 connection (``http.client``), sends 20 warm-up requests (not
counted), then ``GET /users/{id}/recommendations?k=10`` for ``--requests`` users drawn in a fixed random
order, one at a time; each latency is from sending the request to having parsed the JSON answer. Three
smaller series are reported beside it: a new TCP connection per request, a session's list (``POST
/sessions/recommendations``, 2–5 items of a user's history) and a user's explanations. Writes
``bench/results/serve.json``. Targets: p50 ≤ 20 ms, p99 ≤ 100 ms for the user series.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ml100k_ingest_cmd, write_result

TARGETS = {"p50_ms": 20.0, "p99_ms": 100.0}


def _build(env: dict[str, str]) -> tuple[str, Path, dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="persona-serve-"))
    store = f"embedded:{work}/kg.db"
    took = {}
    for name, cmd in (("ingest_s", ml100k_ingest_cmd(store)), ("train_s", ["persona", "train", "--store", store, "-q"])):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        took[name] = round(time.perf_counter() - t0, 1)
    return store, work / ".persona", took


def _start(store: str, workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "persona.cli", "serve", "--store", store, "--port", "0"],
                            env={**env, "PERSONA_WORKDIR": str(workdir)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"persona serve did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    url = line[line.index("http://"):].split()[0]
    return proc, url, time.perf_counter() - t0


def _get(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    out = json.loads(resp.read())
    if resp.status != 200:
        raise SystemExit(f"{method} {path}: {resp.status} {out}")
    return out


def _series(conn_for: Any, requests: list[tuple[str, str, Any]], check: Any = None) -> dict[str, float]:
    ms = []
    for method, path, body in requests:
        conn = conn_for()
        t0 = time.perf_counter()
        out = _get(conn, method, path, body)
        ms.append((time.perf_counter() - t0) * 1000)
        if check is not None:
            check(out)
    a = np.asarray(ms)
    return {"requests": len(a), "p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2),
            "mean_ms": round(float(a.mean()), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", help="A trained store (default: build ML-100K + DBpedia and train it first).")
    ap.add_argument("--workdir", type=Path, help="The .persona folder of --store's runs (default ./.persona).")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    build: dict[str, float] = {}
    if args.store:
        store, workdir = args.store, (args.workdir or Path(".persona")).resolve()
    else:
        store, workdir, build = _build(env)
    proc, url, startup = _start(store, workdir, env)
    try:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        keep = http.client.HTTPConnection(host, int(port), timeout=30)
        health = _get(keep, "GET", "/health")
        # user ids: the run's users are not listed by the server; ML-100K's are 1..943
        users = [str(u) for u in range(1, int(health["users"]) + 1)]
        rng = random.Random(args.seed)
        for u in rng.sample(users, 20):
            _get(keep, "GET", f"/users/{u}/recommendations?k=10")

        def ten(out: Any) -> None:
            assert len(out["items"]) == 10, out

        drawn = [rng.choice(users) for _ in range(args.requests)]
        user_series = _series(lambda: keep, [("GET", f"/users/{u}/recommendations?k=10", None) for u in drawn], ten)

        def fresh() -> http.client.HTTPConnection:
            return http.client.HTTPConnection(host, int(port), timeout=30)

        fresh_series = _series(fresh, [("GET", f"/users/{u}/recommendations?k=10", None) for u in drawn[:200]], ten)
        lists = [_get(keep, "GET", f"/users/{u}/recommendations?k=100")["items"] for u in drawn[:100]]
        sessions = [[r["item"] for r in items[: 2 + n % 4]] for n, items in enumerate(lists)]
        session_series = _series(lambda: keep, [("POST", "/sessions/recommendations", {"items": s, "k": 10}) for s in sessions], ten)
        explain_series = _series(lambda: keep, [("GET", f"/users/{u}/explain?k=10", None) for u in drawn[:100]], ten)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {
        "data": {"dataset": "ML-100K + DBpedia movie triples", "users": health["users"], "items": health["items"],
                 "run": health["run"], "store": store.split(":", 1)[0] if "://" not in store else "neo4j"},
        "client": "http.client, loopback, sequential; latency = request sent → JSON parsed",
        "server": "persona serve (ThreadingHTTPServer, HTTP/1.1 keep-alive), own process",
        "startup_s": round(startup, 2), "load_s": health["load_seconds"], "build": build,
        "user_top10_keepalive": user_series, "user_top10_new_connection": fresh_series,
        "session_top10": session_series, "user_explain_top10": explain_series, "targets": TARGETS,
        "meets_targets": user_series["p50_ms"] <= TARGETS["p50_ms"] and user_series["p99_ms"] <= TARGETS["p99_ms"],
    }
    out = write_result("serve", result)
    print(json.dumps({k: result[k] for k in ("startup_s", "user_top10_keepalive", "user_top10_new_connection",
                                            "session_top10", "user_explain_top10", "meets_targets")}, indent=1))
    print(f"→ {out}")


if __name__ == "__main__":
    main()
