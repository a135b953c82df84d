"""Export throughput from Neo4j: the column-wise fetch of the package's queries against one record per row.

Run: ``python bench/bench_neo4j_export.py [--repeats 3]`` with ``NEO4J_URI`` set (``scripts/neo4j.sh
start``). Loads :func:`_common.sized_graph` (the Movies & TV sizes of the paper's Table 1: 10,849 users,
3,672 items, 87,376 interactions, 45,528 entities, 209,630 triples) into the server (cleared first), then
times, best of ``--repeats``:

* each export query through :meth:`Neo4jStore.arrow_named` (one record of one list per column:
  :func:`persona.kgstore.neo4j.columnar_query`) and through the driver's record-per-row ``to_df`` path
  that export used before;
* the whole :func:`persona.learn.export.export_graph` (no meta-paths), edges read per second.

Writes ``bench/results/neo4j_export.json``. Target (2-core machine): ≥ 200 k edges/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MOVIES_TV, sized_graph, write_result

EDGE_QUERIES = ("export_kg_edges", "export_rated_train")
NODE_QUERIES = ("export_users", "export_items", "export_entities")


def best(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not os.environ.get("NEO4J_URI"):
        sys.exit("set NEO4J_URI (scripts/neo4j.sh start)")
    import torch

    from persona.kgstore import open_store, queries
    from persona.kgstore.neo4j import _to_df
    from persona.learn.export import export_graph

    torch.set_num_threads(2)
    store = open_store(os.environ["NEO4J_URI"])
    store.clear()
    store.init_schema()
    t = time.perf_counter()
    store.load(sized_graph())
    load_s = time.perf_counter() - t
    per_query = {}
    for name in EDGE_QUERIES + NODE_QUERIES:
        cypher = queries.load(name, "neo4j")
        col_s, tbl = best(lambda name=name: store.arrow_named(name), args.repeats)
        rec_s, df = best(lambda cypher=cypher: store._read(cypher, _to_df, cypher, {}), args.repeats)
        assert tbl.num_rows == len(df) and tbl.column_names == list(df.columns), name
        per_query[name] = {
            "rows": tbl.num_rows,
            "columnar_s": round(col_s, 3), "columnar_rows_per_s": round(tbl.num_rows / col_s),
            "records_s": round(rec_s, 3), "records_rows_per_s": round(len(df) / rec_s),
            "speedup": round(rec_s / col_s, 2),
        }
        print(name, per_query[name], flush=True)
    exp_s, _ = best(lambda: export_graph(store, metapaths=None), args.repeats)
    edges = sum(per_query[q]["rows"] for q in EDGE_QUERIES)
    edge_s = sum(per_query[q]["columnar_s"] for q in EDGE_QUERIES)
    result = {
        "data": {**MOVIES_TV, "source": "bench/_common.py sized_graph(seed=0)"},
        "load_s": round(load_s, 1),
        "queries": per_query,
        "edge_queries_edges_per_s": round(edges / edge_s),
        "export_graph_s": round(exp_s, 2),
        "export_graph_edges_per_s": round(edges / exp_s),
        "repeats": args.repeats,
        "load_average": os.getloadavg(),
    }
    print(write_result("neo4j_export", result))
    print(f"edges/s: queries {result['edge_queries_edges_per_s']:,}, whole export {result['export_graph_edges_per_s']:,}")
    store.clear()
    store.close()


if __name__ == "__main__":
    main()
