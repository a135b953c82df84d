"""Writing embeddings into the embedded store: one ``SET`` + ``CHECKPOINT`` vs batches.

Run: ``python bench/bench_list_set.py [--rows 8000,28000] [--batches 0,500,2000]``. Writes
``bench/results/list_set.json``. Each case is a fresh LadybugDB with one node table of ``rows`` nodes;
384-d float vectors are written with ``LOAD FROM … MATCH … SET`` and checkpointed, either all at once
(batch 0) or in batches each followed by ``CHECKPOINT`` — what
:meth:`persona.kgstore.embedded.EmbeddedStore.set_node_properties` does with
:data:`~persona.kgstore.embedded.LIST_SET_ROWS` rows. A case is stopped after ``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result


def _case(rows: int, batch: int, queue: Any) -> None:
    import ladybug
    import numpy as np
    import pyarrow as pa

    from persona.kgstore.embedded import CHECKPOINT_BYTES

    with tempfile.TemporaryDirectory() as d:
        db = ladybug.Database(str(Path(d) / "db"), checkpoint_threshold=CHECKPOINT_BYTES)
        c = ladybug.Connection(db)
        c.execute("CREATE NODE TABLE P(id STRING, text_emb FLOAT[], PRIMARY KEY(id))")
        ids = [f"p{i}" for i in range(rows)]
        nodes = pa.table({"id": ids})  # noqa: F841 -- read by name by `COPY P(id) FROM nodes`
        c.execute("COPY P(id) FROM nodes")
        vec = np.random.default_rng(0).random((rows, 384), dtype=np.float32)
        step = batch or rows
        t = time.perf_counter()
        for s in range(0, rows, step):
            upd = pa.table(  # noqa: F841 -- read by name by `LOAD FROM upd`
                {"id": ids[s : s + step], "v": pa.array(list(vec[s : s + step]), type=pa.list_(pa.float32()))}
            )
            c.execute("LOAD FROM upd MATCH (n:P {id: id}) SET n.text_emb = v")
            c.execute("CHECKPOINT")
        queue.put(time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="8000,28000")
    ap.add_argument("--batches", default="0,500,2000", help="rows per SET+CHECKPOINT; 0 = all at once")
    ap.add_argument("--limit", type=float, default=180.0, help="seconds before a case is stopped")
    args = ap.parse_args()
    runs = []
    for rows in map(int, args.rows.split(",")):
        for batch in map(int, args.batches.split(",")):
            q: Any = mp.get_context("spawn").Queue()
            p = mp.get_context("spawn").Process(target=_case, args=(rows, batch, q))
            p.start()
            p.join(args.limit)
            if p.is_alive():
                p.kill()
                p.join()
                r = {"rows": rows, "batch": batch or rows, "seconds": None, "stopped_after_s": args.limit}
            else:
                s = q.get()
                r = {"rows": rows, "batch": batch or rows, "seconds": round(s, 2),
                     "rows_per_s": round(rows / s)}
            print(r, flush=True)
            runs.append(r)
    out = write_result("list_set", {"dim": 384, "runs": runs})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
