"""The one place that imports Keras, so every caller gets the same backend and compile cache.

Keras falls back to TensorFlow (not installed) when ``KERAS_BACKEND`` is unset, so JAX is chosen here
before the first import, unless the user picked a backend. Under JAX every new graph costs about a
second of XLA compilation; the Kapacitor retrain hook starts a fresh process per alert, so compiled
graphs are kept on disk and reused across processes (the LSTM trio's shapes repeat for every series
with the same period). Keras is imported lazily so that importing capplan stays fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)


def jax_cache_dir() -> Path:
    """Per-user cache of compiled XLA programs (safe to delete; rebuilt on demand)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "capplan" / "jax"


def keras() -> ModuleType:
    """The ``keras`` module on the user's backend (JAX by default), with JAX's persistent cache on."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    if os.environ["KERAS_BACKEND"] == "jax":
        _enable_jax_compile_cache()
    import keras as keras_module

    return keras_module


def _enable_jax_compile_cache() -> None:
    """Cache every compiled program: JAX's defaults skip entries compiled in under a second, which on
    this model are all of them, so both thresholds go to zero. A cache directory the user chose through
    ``JAX_COMPILATION_CACHE_DIR`` is left as it is."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return
    directory = jax_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("JAX compile cache disabled, cannot create %s: %s", directory, exc)
        return
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
