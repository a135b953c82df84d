"""The fusion weight's validation curve: one retrieval per chunk of users, against one per weight.

:func:`persona.rec.pipeline.final_weight` ranks every validation user's held-out item in the final list
of each of the 11 fusion weights. Until this change every weight repeated the full-catalogue work — the
target's retriever rank, the seen-item mask, the top-100 retrieval — so choosing the weight cost 12
full-ranking passes per user. :func:`persona.rec.rerank.two_stage_ranks_by_weight` does that work once
and reorders only the ``[B, 100]`` candidates per weight (identical ranks; tests/rec/test_pipeline.py).

Measured on random scores of the cost curve's catalogue sizes, one chunk of 2,048 users (the pipeline's
chunk), the weights of ``rec.fusion_weights``, 2 torch threads; the seconds for every user of the scale
are the chunk's seconds times the number of chunks.

Run: ``python bench/bench_fusion_choice.py [--scales 1,3,10] [--repeats 3]``; writes
``bench/results/fusion_choice.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MOVIES_TV, write_result

from persona.config import RecSettings
from persona.rec.evaluate import rank_targets
from persona.rec.rerank import two_stage_ranks, two_stage_ranks_by_weight

CHUNK = 2048


def per_weight(a, b, tgt, excl, c, ws):
    """The former curve: every weight (and the reranker alone) ranks the whole catalogue again."""
    out = [two_stage_ranks(a, b, tgt, excl, c, w)[1] for w in ws]
    two_stage_ranks(b, b, tgt, excl, c)
    return out


def once(a, b, tgt, excl, c, ws):
    out = two_stage_ranks_by_weight(a, b, tgt, excl, c, ws)[1]
    rank_targets(b, tgt, excl)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1,3,10")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rs = RecSettings()
    ws, c = sorted(set(rs.fusion_weights)), rs.candidates
    points = []
    for scale in (float(s) for s in args.scales.split(",")):
        users, items = round(MOVIES_TV["users"] * scale), round(MOVIES_TV["items"] * scale)
        g = torch.Generator().manual_seed(0)
        a = torch.randn(CHUNK, items + 1, generator=g)
        b = torch.randn(CHUNK, items + 1, generator=g)
        tgt = torch.randint(1, items + 1, (CHUNK,), generator=g)
        excl = torch.rand(CHUNK, items + 1, generator=g) < 20 / items  # ~20 seen items a user
        times = {}
        for name, fn in (("per_weight", per_weight), ("once", once)):
            best = math.inf
            for _ in range(args.repeats):
                t = time.perf_counter()
                res = fn(a, b, tgt, excl, c, ws)
                best = min(best, time.perf_counter() - t)
            times[name] = best
            if name == "per_weight":
                ref = res
            else:
                assert all(torch.equal(x, y) for x, y in zip(ref, res)), "ranks differ"
        chunks = math.ceil(users / CHUNK)
        p = {
            "scale": scale, "users": users, "items": items, "weights": len(ws), "chunk_users": CHUNK,
            "chunk_seconds": {k: round(v, 3) for k, v in times.items()},
            "all_users_seconds": {k: round(v * chunks, 1) for k, v in times.items()},
            "speedup": round(times["per_weight"] / times["once"], 1),
        }
        print(p, flush=True)
        points.append(p)
    out = write_result("fusion_choice", {"points": points, "threads": 2})
    print(f"→ {out}")


if __name__ == "__main__":
    main()
