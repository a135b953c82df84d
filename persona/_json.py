"""Strict JSON (RFC 8259: no NaN or Infinity) for the CLI's ``--json`` output and the HTTP server."""

from __future__ import annotations

import json
import math
from typing import Any


def strict(o: Any) -> Any:
    """Make ``o`` strict-JSON-able: NaN and ±inf become null (JSON has no such numbers)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): strict(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [strict(v) for v in o]
    try:
        import numpy as np

        if isinstance(o, np.ndarray):
            return strict(o.tolist())
        if isinstance(o, np.generic):
            return strict(o.item())
    except ImportError:  # pragma: no cover
        pass
    return o


def dumps(o: Any, *, indent: int | None = 2) -> str:
    """Strict JSON (RFC 8259: no NaN/Infinity), indented; the same types from both stores."""
    return json.dumps(strict(o), indent=indent, default=_json_default, allow_nan=False, ensure_ascii=False)


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
    except ImportError:  # pragma: no cover
        pass
    return str(o)
