"""The drift loop on the long panel's dev windows: hourly checks and updates after a level shift.

Usage: ``taskset -c 1 python -m bench.drift [--output bench/drift.md]``. What Kapacitor and the exec
hook do, without the servers: fit on a dev window's training data, then for each of the next 72 hours
ask whether the hour lies outside the newest forecast's one-step 95% interval (what the alert tests),
and update the model on the week up to it (what the retrain does). Each window runs as it was and
with a level shift of three one-step half-widths injected at its first hour, and each of those with
capplan's level-shift search on and off (``capplan.shifts.detect`` replaced by one finding nothing),
side by side in one run. Dev windows only: the held-out weeks stay unseen.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from bench import data
from bench.accuracy import versions

HOURS = 72
WINDOWS = ("@-1", "@-2")
SHIFT_WIDTHS = (0, 3)
WEEK = 168

log = logging.getLogger(__name__)


@contextmanager
def shift_search(enabled: bool):
    from capplan import shifts

    found = shifts.detect
    if not enabled:
        shifts.detect = lambda *args, **kwargs: None
    try:
        yield
    finally:
        shifts.detect = found


def run(case: data.Case, widths: float, search: bool) -> dict:
    """Hours outside the interval over the first ``HOURS`` after the window's origin."""
    from capplan import engine

    with shift_search(search):
        model = engine.fit(case.train, WEEK, name=case.name, step=pd.Timedelta("1h"))
        half = float(model.upper[0] - model.lower[0]) / 2
        actual = pd.concat([case.train, case.test.iloc[:HOURS] + widths * half])
        outside, seconds = [], []
        for t in range(len(case.train), len(case.train) + HOURS):
            row = model.forecast(1).frame.iloc[0]
            outside.append(not row["yhat_lower"] <= actual.iloc[t] <= row["yhat_upper"])
            started = time.perf_counter()
            model = model.update(actual.iloc[t - WEEK + 1 : t + 1])
            seconds.append(time.perf_counter() - started)
    return {
        "series": case.name,
        "shift_widths": widths,
        "shift_size": widths * half,
        "search": search,
        "outside": int(np.sum(outside)),
        "outside_first_4h": int(np.sum(outside[:4])),
        "pattern": "".join("x" if o else "." for o in outside),
        "shifts_stored": len(model.level_shifts),
        "update_seconds_median": float(np.median(seconds)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("bench/drift.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cases = [c for c in data.panel("long", split="dev") if c.name.endswith(WINDOWS)]
    rows = [
        run(case, widths, search) for case in cases for widths in SHIFT_WIDTHS for search in (True, False)
    ]
    lines = [
        "# capplan drift loop: hours outside the one-step interval under hourly updates",
        "",
        f"Command: `python -m bench.drift`; CPUs allowed: {sorted(os.sched_getaffinity(0))}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in versions().items()),
        "",
        f"Each row: {HOURS} hourly checks after the dev window's origin (x = outside the interval).",
        "",
        "| window | injected shift | shift search | outside | of the first 4 h | shifts stored "
        "| update s | hours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['series']} | {r['shift_widths']} widths ({r['shift_size']:+.3g}) "
        f"| {'on' if r['search'] else 'off'} | {r['outside']} | {r['outside_first_4h']} "
        f"| {r['shifts_stored']} | {r['update_seconds_median']:.3f} | `{r['pattern']}` |"
        for r in rows
    ]
    lines += [
        "",
        "| injected shift | shift search | hours outside, all windows | windows |",
        "|---|---|---|---|",
    ]
    for widths in SHIFT_WIDTHS:
        for search in (True, False):
            picked = [r for r in rows if r["shift_widths"] == widths and r["search"] == search]
            total = sum(r["outside"] for r in picked)
            on = "on" if search else "off"
            lines.append(f"| {widths} widths | {on} | {total} of {HOURS * len(picked)} | {len(picked)} |")
    args.output.write_text("\n".join(lines) + "\n")
    args.output.with_suffix(".json").write_text(json.dumps({"versions": versions(), "rows": rows}, indent=1))
    log.warning("wrote %s", args.output)


if __name__ == "__main__":
    main()
