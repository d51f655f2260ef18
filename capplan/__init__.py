"""capplan: capacity-planning forecasts for InfluxDB 1.x series, kept honest by Kapacitor.

The public API; names load on first use (PEP 562) so that ``import capplan`` stays cheap for the
Kapacitor exec hook, which must answer within 200 ms::

    >>> import capplan
    >>> sorted(capplan.__all__)
    ['ForecastResult', 'SeriesKey', 'SeriesModel', 'Settings', 'fit', 'forecast', 'load_settings']

The CLI (``capplan``) is a thin layer over it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ForecastResult": "capplan.api",
    "forecast": "capplan.api",
    "SeriesModel": "capplan.engine",
    "fit": "capplan.engine",
    "Settings": "capplan.config",
    "load_settings": "capplan.config",
    "SeriesKey": "capplan.serieskey",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load an exported name on first use and keep it, so later lookups are plain attributes.

    No submodule shares an exported name: importing it would bind the module over the function."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'capplan' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
