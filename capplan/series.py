"""Turn a raw timestamped series into the regular, gap-free grid every model assumes.

Models index by step, so a wrong grid silently shifts every forecast (the original code's +2 h and
decomposition-edge shifts). Missing data stays missing until it is bridged by interpolation or cut off:
filling with 0 (the original ``fill(0)``) teaches a model outages that never happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capplan.config import written
from capplan.errors import DataError
from capplan.zones import UTC

log = logging.getLogger(__name__)

MAX_GAP_FRACTION = 0.05  # interpolated points allowed, as a share of the kept series
# Interpolated and bridged points together: a retrain sees a week, and a night's outage in it is 6%.
MAX_BRIDGED_FRACTION = 0.10
SHORT_GAP_STEPS = 6  # gaps up to this many missing steps are interpolated...
SHORT_GAP_DAY_FRACTION = 0.25  # ...or up to a quarter of a day, whichever is longer
MIN_POINTS = 8
PHASE_SAMPLES = 50  # newest samples whose median offset sets the grid's phase
_ROUNDINGS = ("1s", "5s", "10s", "15s", "30s", "1min", "2min", "5min", "10min", "15min", "20min", "30min")
_ROUNDINGS += ("1h", "2h", "3h", "4h", "6h", "12h", "1D", "7D")  # inferred steps within 10% snap to these


@dataclass(frozen=True)
class PreparedSeries:
    """A series on a regular UTC grid, with how it got there (so `explain` can say what was bridged)."""

    name: str
    values: pd.Series  # float, regular DatetimeIndex (UTC) at ``step``, no NaN
    step: pd.Timedelta
    interpolated: int  # points filled, by interpolation or bridging
    dropped_before: pd.Timestamp | None  # data before this gap was discarded
    bridged: int  # of the points filled, those that took the previous day's shape
    cut_because: str = ""  # which rule cut that gap
    cut_remedy: str = ""  # what would keep more data, for an error about too little of it

    @property
    def steps_per_day(self) -> float:
        return pd.Timedelta("1D") / self.step

    @property
    def last_observed(self) -> pd.Timestamp:
        return self.values.index[-1]

    def after_cut(self) -> str:
        """For an error about too little data: that a gap cut the rest off, and why."""
        return (
            f"only the data after the gap ending {self.dropped_before} counts: {self.cut_because}; "
            f"{self.cut_remedy}"
        )


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Median spacing, snapped to a round interval: jittery collectors (59.9 s, 60.2 s) mean 1 min."""
    median = pd.Series(np.diff(index.as_unit("ns").asi8)).median()
    step = pd.Timedelta(int(median), unit="ns")
    for candidate in map(pd.Timedelta, _ROUNDINGS):
        if abs(step - candidate) <= 0.1 * candidate:
            return candidate
    return step.round("1s") if step >= pd.Timedelta("1s") else step


def checked(series: pd.Series, name: str, zone: str = UTC) -> pd.Series:
    """Float values on a UTC index, refused when the timestamps repeat or go backwards (NaN kept).

    Times without a UTC offset (a naive index) are read as UTC. ``zone``: the local clock the series
    follows; only in it can such times repeat an hour when DST ends, so only then is that the hint."""
    if not isinstance(series.index, pd.DatetimeIndex):
        raise DataError(f"series {name!r}: index is not timestamps; parse the time column as datetimes")
    values = pd.to_numeric(series, errors="coerce").astype(float)
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        raise DataError(
            f"series {name!r}: infinite value at {series.index[int(np.argmax(infinite))]}; drop or fix it"
        )
    given = series.index
    index = given.tz_localize("UTC") if given.tz is None else given.tz_convert("UTC")
    if index.has_duplicates:
        raise DataError(_repeated_time(given, name, zone))
    if not index.is_monotonic_increasing:
        bad = int(np.argmax(np.diff(index.asi8) < 0)) + 1
        raise DataError(
            f"series {name!r}: timestamps not increasing at position {bad} ({index[bad]}); sort by time first"
        )
    return pd.Series(values.to_numpy(), index=index, name=series.name)


def _repeated_time(given: pd.DatetimeIndex, name: str, zone: str) -> str:
    """Which time repeats, in which data rows, and what fixes it."""
    dup = given[given.duplicated()][0]
    rows = np.flatnonzero(given == dup) + 1
    shown = ", ".join(map(str, rows[:3])) + (", ..." if len(rows) > 3 else "")
    where = f"series {name!r}: time {dup} is given {len(rows)} times (data rows {shown})"
    if given.tz is None and zone != UTC and _repeats(dup, zone):
        return (
            f"{where}: local times without a UTC offset repeat an hour when DST ends in {zone}; give the "
            "times in UTC or with their offsets"
        )
    return f"{where}; keep one row per time: remove the repeated rows or average them"


def _repeats(wall: pd.Timestamp, zone: str) -> bool:
    """Whether the wall-clock time ``wall`` occurs twice in ``zone``: in the hour DST ends."""
    return pd.isna(wall.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward"))


def prepare(
    series: pd.Series, name: str, *, step: pd.Timedelta | None = None, native: pd.Timedelta | None = None
) -> PreparedSeries:
    """Validate, resample to ``step`` (mean per bucket), interpolate short gaps, bridge gaps up to a day
    with the day before's shape, cut at the last longer gap.

    A gap longer than a day keeps only the data after it, logged, when enough remains: an outage in the
    middle of the history should not block forecasting, and bridging days would invent too much. So
    does a shorter one that cannot be bridged: with under a day of data before it, or with more than
    MAX_BRIDGED_FRACTION of the steps missing."""
    values = checked(series, name).dropna()
    if values.empty:
        raise DataError(f"series {name!r}: no numeric values (all NaN or empty); check the value column")
    if len(values) < MIN_POINTS:
        raise DataError(f"series {name!r}: only {len(values)} values; at least {MIN_POINTS} are needed")
    native = native if native is not None else infer_step(values.index)
    step = step if step is not None else native
    grid = _regrid(values, step, native)
    missing = grid.isna().to_numpy()
    short = max(SHORT_GAP_STEPS, int(SHORT_GAP_DAY_FRACTION * (pd.Timedelta("1D") / step)))
    day = max(1, round(pd.Timedelta("1D") / step))
    dropped_before = None
    # Up to a day, with a day of data before it, a gap takes the shape of the day before (a collector
    # restart, a night's outage); cutting there left hours of data and blocked every fit for days.
    # Bridged steps are made up too: with interpolated ones they get MAX_BRIDGED_FRACTION of what is
    # kept. The oldest cut that keeps within that wins, so the newest gaps are bridged first: cutting
    # at the newest gap whenever the whole history was over the budget kept 64 of three weeks' steps.
    cut_gap, bridged, (cut_because, cut_remedy) = _cut(_nan_runs(missing), missing, short, day, step)
    for start, end in bridged:
        grid.iloc[start:end] = _seasonal_bridge(grid.to_numpy(), start, end, day)
        log.info(
            "series %r: %s gap from %s to %s bridged with the previous day's shape",
            name,
            written(step * (end - start)),
            grid.index[start],
            grid.index[end],
        )
    if cut_gap:
        gap, cut = cut_gap
        dropped_before = grid.index[cut]
        log.warning(
            "series %r: %s gap from %s to %s cut, keeping only the %d steps after it: %s",
            name,
            written(step * (cut - gap)),
            grid.index[gap],
            grid.index[cut],
            len(grid) - cut,
            cut_because,
        )
        grid = grid.iloc[cut:]
        missing = missing[cut:]
    interpolated = int(missing.sum())
    bridged_steps = sum(e - s for s, e in bridged)
    if interpolated - bridged_steps > MAX_GAP_FRACTION * len(grid):
        raise DataError(
            f"series {name!r}: {interpolated} of {len(grid)} steps missing at step {written(step)}; "
            "use a coarser step (--step, or model.interval) or a period with fewer gaps"
        )
    grid = grid.interpolate(method="time", limit_area="inside")
    grid.index.name = "time"
    prepared = PreparedSeries(
        name=name,
        values=grid,
        step=step,
        interpolated=interpolated,
        dropped_before=dropped_before,
        bridged=int(bridged_steps),
        cut_because=cut_because,
        cut_remedy=cut_remedy,
    )
    if len(grid) < MIN_POINTS:
        where = " in all; query more history or use a finer step"
        if dropped_before is not None:
            where = "; " + prepared.after_cut()
        raise DataError(f"series {name!r}: only {len(grid)} steps of {written(step)}{where}")
    if float(grid.max() - grid.min()) <= 1e-12 * max(1.0, abs(float(grid.mean()))):
        raise DataError(
            f"series {name!r}: constant value {grid.iloc[0]:g}; nothing to forecast (check the field queried)"
        )
    return prepared


def buckets(step: pd.Timedelta, native: pd.Timedelta) -> bool:
    """Whether a grid of ``step`` aggregates data sampled every ``native`` into buckets on whole
    intervals from the epoch (else it keeps the data's own times)."""
    return step > 1.5 * native


def _regrid(values: pd.Series, step: pd.Timedelta, native: pd.Timedelta) -> pd.Series:
    """Mean per grid point. At the data's own rate the grid takes the newest samples' phase and
    each sample goes to its nearest point, so jitter (59.9 s, 60.2 s) does not empty buckets and a
    series sampled at :30, or daily at local midnight across a DST change, keeps its own times (the
    forecast then starts one step after the last observation). Coarser steps aggregate into buckets
    on whole intervals from the epoch, as InfluxDB's GROUP BY time() does."""
    if not buckets(step, native):
        origin = _phase(values.index, step) - step / 2
        grid = values.resample(step, origin=origin, label="left", closed="left").mean()
        return grid.set_axis(grid.index + step / 2)
    return values.resample(step, origin="epoch", label="left", closed="left").mean()


def _phase(index: pd.DatetimeIndex, step: pd.Timedelta) -> pd.Timestamp:
    """Where the grid's points fall: the median offset of the newest samples from the last one, so one
    late sample does not shift the grid, and after a DST change the grid follows the current clock
    (the forecast continues from it)."""
    recent = index[-PHASE_SAMPLES:]
    steps = (recent - index[-1]) / step
    offsets = np.asarray(steps - np.round(steps), dtype=float)
    return index[-1] + step * float(np.median(offsets))


def _seasonal_bridge(y: np.ndarray, start: int, end: int, day: int) -> np.ndarray:
    """Values for y[start:end]: the same steps a day earlier, shifted by a ramp from the level
    difference at the gap's left edge to the one at its right edge, so both ends join the data."""
    before = y[start - day : end - day]
    left = y[start - 1] - y[start - 1 - day]
    right = y[end] - y[end - day]
    left, right = (0.0 if np.isnan(v) else v for v in (left, right))
    ramp = left + (right - left) * np.arange(1, end - start + 1) / (end - start + 1)
    return before + ramp  # NaN where the day before had a short gap: interpolated afterwards


def _cut(
    runs: list[tuple[int, int]], missing: np.ndarray, short: int, day: int, step: pd.Timedelta
) -> tuple[tuple[int, int] | None, list[tuple[int, int]], tuple[str, str]]:
    """(the gap the kept history starts after, None for all of it; gaps to bridge in it; (why that gap
    was cut, what would keep more)).

    Cut candidates are the start of the data and the end of every gap longer than ``short``, oldest
    first; the first one after which every such gap can be bridged (at most a day long, a day of data
    before it) within MAX_BRIDGED_FRACTION of missing steps is taken. After the newest gap none is left
    to bridge, so that one always is."""
    gaps = [(s, e) for s, e in runs if e - s > short]
    candidates = [0] + [e for _, e in gaps]
    for i, cut in enumerate(candidates):
        kept = [(s, e) for s, e in gaps if s >= cut]
        absent, total = int(missing[cut:].sum()), len(missing) - cut
        bridgeable = all(e - s <= day and s - cut > day for s, e in kept)
        if (bridgeable and absent <= MAX_BRIDGED_FRACTION * total) or not kept:
            cut_gap = gaps[i - 1] if i else None
            return cut_gap, kept, _why_cut(gaps, candidates, i, missing, short, day, step)
    raise AssertionError("after the newest gap none is left to bridge")


def _why_cut(
    gaps: list[tuple[int, int]],
    candidates: list[int],
    i: int,
    missing: np.ndarray,
    short: int,
    day: int,
    step: pd.Timedelta,
) -> tuple[str, str]:
    """(why the gap ending at ``candidates[i]`` was cut, what would keep the data before it)."""
    if i == 0:
        return "", ""
    start, end = gaps[i - 1]
    older = candidates[i - 1]
    wait = "wait for more data after it"
    if end - start > max(short, day):
        return f"gaps over {written(step * max(short, day))} are cut", wait
    if start - older <= day:
        return (
            f"a gap over {written(step * short)} with less than {written(step * day)} of data before it "
            "has no day before to take the shape of, and is cut",
            wait,
        )
    absent, total = int(missing[older:].sum()), len(missing) - older
    return (
        f"kept with it, gaps would make up {absent} of {total} steps, over the {MAX_BRIDGED_FRACTION:.0%} "
        "that may be bridged",
        "fill the gaps or use a coarser step (--step, or model.interval)",
    )


def _nan_runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of consecutive missing steps."""
    edges = np.diff(np.concatenate([[0], missing.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))
