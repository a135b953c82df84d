"""PyG's generated message-passing modules leave no files in the temp directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_BUILD = """
import sys, torch
from torch_geometric.nn import GATConv
from persona.learn import collab
from persona.learn.hdgi.encoder import HDGIEncoder
from persona.learn.metapaths import parse_metapath
from torch_geometric.nn.models import LightGCN

HDGIEncoder({"User": 8, "Item": 8}, 5, [parse_metapath("U-I"), parse_metapath("U-I-U")], hidden=8, heads=2)
model = LightGCN(6, 4, 2)
model.convs = torch.nn.ModuleList(collab._SymmetricLGConv() for _ in range(2))
# the generated code still runs with its file gone
out = GATConv(4, 4)(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]]))
assert out.shape == (3, 4)
print(sorted(n for n in sys.modules if n.endswith("_propagate")))
"""


def test_building_hdgi_and_lightgcn_leaves_no_generated_code_in_the_temp_directory(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _BUILD], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # PyG did generate the modules (otherwise this test would check nothing) ...
    assert "GATConv_propagate" in out.stdout and "_SymmetricLGConv_propagate" in out.stdout, out.stdout
    # ... and none of their files is left
    assert sorted(p.name for p in tmp_path.glob("*.py")) == []
