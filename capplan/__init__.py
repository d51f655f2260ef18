"""capplan: capacity-planning forecasts for InfluxDB 1.x series, kept honest by Kapacitor.

The public API is re-exported here as it lands; the CLI (``capplan``) is a thin layer over it.
"""

__version__ = "0.1.0"
