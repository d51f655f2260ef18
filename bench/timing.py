"""Time capplan's fit on the issue's reference size (1,344 hourly points = 8 weeks) and its update.

Usage: ``taskset -c 0 python -m bench.timing [--output bench/timing.md]``. Uses the long panel's
training data only (its newest 1,344 hours), never the held-out week. Figures per series: the
whole fit (every candidate and the backtest), the part of it spent training LSTM trios (read from the
trio's own log records, which carry the measured seconds), and ``SeriesModel.update`` with 24 new hours
after a fit on the hours before them. That update runs the winner's path, and no series here picks the
LSTM trio, so the trio's own ``update`` (continued training from its weights) is also timed alone on
the same 24 hours. One untimed fit and trio update run first, so the figures exclude the
once-per-process import of Keras/JAX and the first compilation; that cold fit is reported apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench import data
from bench.accuracy import versions

if TYPE_CHECKING:
    from capplan.models.base import FitContext

POINTS = 1344
UPDATE_HOURS = 24
LSTM_LOGGER = "capplan.models.lstm"

log = logging.getLogger(__name__)


class _TrioSeconds(logging.Handler):
    """Sums the seconds of every LSTM trio training the engine logs during one fit."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("LSTM trio trained"):
            self.seconds += float(record.args[2])


def measure(case: data.Case) -> dict[str, float | str]:
    from capplan import engine

    step = pd.Timedelta("1h")
    trio = _TrioSeconds()
    logging.getLogger(LSTM_LOGGER).addHandler(trio)
    try:
        started = time.perf_counter()
        model = engine.fit(case.train, len(case.test), name=case.name, step=step)
        fit_seconds = time.perf_counter() - started
    finally:
        logging.getLogger(LSTM_LOGGER).removeHandler(trio)
    earlier = engine.fit(case.train.iloc[:-UPDATE_HOURS], len(case.test), name=case.name, step=step)
    started = time.perf_counter()
    earlier.update(case.train.iloc[-UPDATE_HOURS:])
    update_seconds = time.perf_counter() - started
    return {
        "series": case.name,
        "points": len(case.train),
        "winner": model.model_id,
        "fit_seconds": fit_seconds,
        "lstm_trio_seconds": trio.seconds,
        "update_winner": earlier.model_id,
        "update_seconds": update_seconds,
        "lstm_update_seconds": trio_update_seconds(case.train.to_numpy(dtype=float), model.ctx),
    }


def trio_update_seconds(y: np.ndarray, ctx: FitContext) -> float | None:
    """Seconds of the LSTM trio's own ``update`` with the last ``UPDATE_HOURS`` of ``y``, after a fit
    on the hours before them with the periods of the engine's fit on all of ``y`` (None: no period,
    so no trio)."""
    from capplan.models.registry import build

    if not ctx.periods:
        return None
    trio = build("lstm", {}).fit(y[:-UPDATE_HOURS], ctx)
    started = time.perf_counter()
    trio.update(y, ctx)
    return time.perf_counter() - started


def _seconds(value: float | None) -> str:
    return "no period" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.timing", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("bench/timing.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cases = data.panel("long", train_hours=POINTS)
    from capplan import engine

    started = time.perf_counter()
    first = engine.fit(cases[0].train, len(cases[0].test), name=cases[0].name, step=pd.Timedelta("1h"))
    cold = time.perf_counter() - started
    trio_update_seconds(cases[0].train.to_numpy(dtype=float), first.ctx)  # compiles the update graph
    rows = [measure(case) for case in cases]
    cpus = sorted(os.sched_getaffinity(0))
    found = versions()
    lines = [
        "# capplan fit timing",
        "",
        f"Command: `taskset -c 0 python -m bench.timing`; CPUs allowed: {cpus}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in found.items()) + "  ",
        f"Cold first fit in the process ({cases[0].name}, imports and compilation included): {cold:.2f} s",
        "",
        "| series | points | winner | fit s (all candidates + backtest) | of which LSTM trios s "
        "| update s (24 h) | updated model | LSTM trio update s (24 h) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['series']} | {r['points']} | {r['winner']} | {r['fit_seconds']:.2f} "
        f"| {r['lstm_trio_seconds']:.2f} | {r['update_seconds']:.2f} | {r['update_winner']} "
        f"| {_seconds(r['lstm_update_seconds'])} |"
        for r in rows
    ]
    args.output.write_text("\n".join(lines) + "\n")
    args.output.with_suffix(".json").write_text(
        json.dumps({"cpus": cpus, "versions": found, "cold_fit_seconds": cold, "rows": rows}, indent=1)
    )
    log.info("wrote %s", args.output)


if __name__ == "__main__":
    main()
