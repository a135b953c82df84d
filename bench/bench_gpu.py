"""The Movies & TV-sized pipeline on a GPU: every stage of `persona train --device cuda`.

Run on a machine with CUDA: ``python bench/bench_gpu.py [--graph movies_tv|ml100k] [--device cuda]``.
It checks that CUDA is there (one line and exit 2 otherwise: nothing here needs a GPU, and tests and CI
run on CPUs), records the GPU, then runs :mod:`bench_train_e2e` with ``--device`` — ingest into a fresh
embedded store, then ``persona train --device cuda``, which puts text encoding, HDGI, both SASRec models
and the full-ranking evaluation on the device (the per-stage seconds are in each step's output, kept in
the JSON). Writes ``bench/results/gpu_<graph>.json`` (machine, GPU, data size, commit).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, write_result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graph", default="movies_tv", choices=["movies_tv", "ml100k", "demo"])
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(f"bench_gpu: CUDA is not available on this machine (torch {torch.__version__}); nothing to measure",
              file=sys.stderr)
        return 2
    gpu = {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(),
           "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
           "torch": torch.__version__, "cuda": torch.version.cuda}
    rc = subprocess.call([sys.executable, str(HERE / "bench_train_e2e.py"), "--graph", args.graph,
                          "--device", args.device])
    if rc != 0:
        return rc
    e2e = json.loads((RESULTS / f"train_e2e_{args.graph}_embedded_{args.device.replace(':', '')}.json").read_text())
    out = write_result(f"gpu_{args.graph}", {"gpu": gpu, "device": args.device, "train_e2e": e2e})
    print(f"{args.graph} on {gpu['name']}: {e2e['total_seconds']} s end to end → {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
