"""Strict JSON out of capplan's numbers: NaN (a candidate that could not be scored) becomes null.

Python's json writes a bare ``NaN`` that jq, Grafana and most parsers reject; metadata files and
``--json`` output are read by such tools.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity; non-JSON objects go through ``str``."""
    return json.dumps(finite(value), allow_nan=False, default=str, **kwargs)
