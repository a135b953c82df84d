"""Parse rates of the ingest readers: N-Triples triples/s, ML-100K rows/s, peak RSS.

Each measurement runs in a fresh process (so peak RSS belongs to that phase alone), repeated
``--repeat`` times; the JSON keeps the best and the median time. Results go to
``bench/results/ingest_parse.json`` with machine information and data sizes.

Usage:
    python bench/bench_ingest_parse.py [--datasets ../shared/datasets] [--repeat 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _phase(name: str, datasets: str) -> dict[str, Any]:
    """Run one measured phase in this (child) process."""
    d = Path(datasets)
    import gzip

    from persona.ingest import read_movielens
    from persona.ingest._recbole import read_link
    from persona.ingest.errors import RecordPolicy
    from persona.ingest.rdf import TripleIndex, parse_ntriples

    movies = d / "dbpedia-movies" / "movies.nt.gz"
    books = d / "amazon-kg" / "dbpedia-books.nt.gz"
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    c0 = time.process_time()
    if name in ("nt_fast_movies", "nt_fast_books"):
        path = movies if name.endswith("movies") else books
        index = TripleIndex()
        parse_ntriples(path, index, None, RecordPolicy())
        out["triples"] = index.read
        out["fallback_lines"] = index.fallback
    elif name in ("nt_parser_only_movies", "nt_parser_only_books"):
        from persona.ingest._ntriples import parse_fast

        path = movies if name.endswith("movies") else books
        with gzip.open(path, "rb") as fh:
            lines = fh.read().decode("utf-8").splitlines()
        t0 = time.perf_counter()  # decompression excluded
        c0 = time.process_time()
        n = sum(1 for line in lines if parse_fast(line.strip()) is not None)
        out["triples"] = n
    elif name == "nt_rdflib_movies":
        import rdflib

        g = rdflib.Graph()
        with gzip.open(movies, "rb") as fh:
            g.parse(fh, format="nt")
        out["triples"] = len(g)
    elif name == "ml100k":
        gf = read_movielens(d / "ml-100k")
        out["rows"] = gf.stats["records"]
        out["counts"] = gf.counts()
    elif name == "ml100k_dbpedia":
        gf = read_movielens(d / "ml-100k", link=d / "dbpedia-movies" / "ml-100k.link", rdf=movies)
        out["rows"] = gf.stats["records"]
        out["rdf_triples"] = gf.stats["rdf_triples"]  # rate reported per row: the total covers both
        out["counts"] = gf.counts()
    elif name == "movies_read_rdf":
        from persona.ingest import read_rdf

        links = read_link(d / "dbpedia-movies" / "ml-100k.link", RecordPolicy())
        gf = read_rdf(movies, links)
        out["triples"] = gf.stats["rdf_triples"]
        out["edges"] = gf.stats["rdf_edges"]
    else:
        raise ValueError(name)
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _child(name: str, datasets: str, q: Any) -> None:
    q.put(_phase(name, datasets))


def measure(name: str, datasets: str, repeat: int) -> dict[str, Any]:
    """Run ``name`` ``repeat`` times in fresh processes; summarise times, rates and peak RSS."""
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(repeat):
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(name, datasets, q))
        p.start()
        runs.append(q.get())
        p.join()
    secs = [r["seconds"] for r in runs]
    cpu = [r["cpu_seconds"] for r in runs]
    res = {k: v for k, v in runs[0].items() if k not in ("seconds", "cpu_seconds", "peak_rss_mib")}
    res["seconds_best"] = min(secs)
    res["seconds_median"] = statistics.median(secs)
    res["cpu_seconds_best"] = min(cpu)
    res["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    for unit in ("triples", "rows"):
        if unit in res:
            res[f"{unit}_per_s_best"] = round(res[unit] / res["seconds_best"])
            res[f"{unit}_per_s_median"] = round(res[unit] / res["seconds_median"])
            res[f"{unit}_per_cpu_s_best"] = round(res[unit] / res["cpu_seconds_best"])
    return res


def machine() -> dict[str, Any]:
    """CPU count and model, RAM, Python and library versions."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    import pandas
    import rdflib

    info["pandas"] = pandas.__version__
    info["rdflib"] = rdflib.__version__
    try:
        info["load_average_1m"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=str(REPO / ".." / "shared" / "datasets"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "ingest_parse.json"))
    args = ap.parse_args()
    d = Path(args.datasets).resolve()
    if not d.is_dir():
        raise SystemExit(f"datasets folder not found: {d} (pass --datasets)")
    sizes = {
        str(p.relative_to(d)): p.stat().st_size
        for p in [
            d / "ml-100k" / "u.data",
            d / "ml-100k" / "u.item",
            d / "ml-100k" / "u.user",
            d / "dbpedia-movies" / "ml-100k.link",
            d / "dbpedia-movies" / "movies.nt.gz",
            d / "amazon-kg" / "dbpedia-books.nt.gz",
        ]
    }
    phases = [
        "nt_fast_movies",
        "nt_fast_books",
        "nt_parser_only_movies",
        "nt_parser_only_books",
        "nt_rdflib_movies",
        "movies_read_rdf",
        "ml100k",
        "ml100k_dbpedia",
    ]
    results = {}
    for name in phases:
        results[name] = measure(name, str(d), 1 if name == "nt_rdflib_movies" else args.repeat)
        print(f"{name:24s} {json.dumps({k: v for k, v in results[name].items() if k != 'counts'})}")
    doc = {
        "benchmark": "ingest_parse",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "data_bytes": sizes,
        "notes": {
            "nt_fast_*": "parse_ntriples end to end: gzip, UTF-8 decode, fast line parser, indexing",
            "nt_parser_only_*": "the fast line parser alone on decompressed lines",
            "nt_rdflib_movies": "rdflib Graph.parse of the same file (baseline)",
            "movies_read_rdf": "read_rdf with the 1,423 ML-100K links, 1 hop (parse + mapping to frames)",
            "ml100k": "read_movielens without DBpedia; rows = u.data lines",
            "ml100k_dbpedia": "read_movielens with link + movies.nt.gz",
            "rates": "*_per_s = wall clock; *_per_cpu_s = process CPU time (less sensitive to other load on a shared machine); see machine.load_average_1m",
            "peak_rss_mib": "ru_maxrss of a fresh process doing only that phase (includes the interpreter and imports)",
        },
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
