"""Logging set-up shared by the CLI and the retrain hook.

At capplan's default INFO level the libraries under it are chatty in ways that read like failures to
an operator (JAX logs "Unable to initialize backend 'tpu'" on every CPU-only start), so other loggers
stay at WARNING unless debugging was asked for.
"""

from __future__ import annotations

import logging

LIBRARIES_LEVEL = logging.WARNING


def configure(
    level: int | str, handlers: list[logging.Handler], *, libraries: int | str = LIBRARIES_LEVEL
) -> None:
    """capplan's loggers at ``level``; everyone else's at ``libraries``, or at ``level`` if that is
    stricter (an ERROR-only log stays ERROR-only)."""
    level = logging.getLevelName(level) if isinstance(level, str) else level
    libraries = logging.getLevelName(libraries) if isinstance(libraries, str) else libraries
    logging.basicConfig(level=max(level, libraries), handlers=handlers, force=True)
    logging.getLogger("capplan").setLevel(level)
