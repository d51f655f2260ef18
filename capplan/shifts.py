"""Level shifts at the end of a series: found at training and at each update, remembered with the
model, and taken out of its history.

A deploy or a migration moves a series to a new level for good. The drift alert fires on the first
bucket outside the interval, and the retrain it starts must follow the new level. Without this, the
profiles' medians, seasonal naive's last cycle and MSTL's trend followed it over a day or more. A
simulated hourly series whose level rose by three interval widths was outside its interval for 34–37
of the 48 hours after the shift, with an hourly retrain every one of those hours. At training, a
shift in the last day or two is too recent to have steered the backtest, and the winner forecast a
level between the old and the new one.

So the last two days are forecast from just before them with a cheap reference model, and what that
forecast leaves is searched for a step. A shift counts when at least three hours of points at the end
lie beyond the model's one-step interval on one side (the band Kapacitor judges by), and the change
since a week before shows the same step (else it is a weekly habit). The history before the shift is
then moved by the shift's size, so every model (the LSTMs included) restarts at the new level with the
season it already knew. The shift is stored with the model, because a later update reads the
pre-shift data again from InfluxDB and must move it the same way. A short excursion that returns is a
shift up and a shift back, and leaves no trace in the history.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from capplan import clock, zones
from capplan.errors import CapplanError
from capplan.models.base import FitContext
from capplan.models.profile import SeasonalProfile

log = logging.getLogger(__name__)

SETTLE_DAY_FRACTION = 1 / 8  # a shift must have lasted 3 hours (and 3 points) to count
# Data an update needs to tell a shift from a weekly habit: the two days it looks at and a week before.
HISTORY_DAYS = 10


@dataclass(frozen=True)
class Shift:
    at: pd.Timestamp  # first point at the new level
    size: float  # new level minus old
    settled: bool = False  # checked over a whole cycle after it (see ``follow``)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "size": self.size, "settled": self.settled}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shift:
        return cls(pd.Timestamp(data["at"]), float(data["size"]), bool(data.get("settled", False)))

    def in_utc(self, zone: str) -> Shift:
        """From the wall clock of ``zone`` (where the model keeps it) to UTC (where users read it)."""
        return replace(self, at=clock.to_utc(self.at, zone, near=self.at))

    def on_wall(self, zone: str) -> Shift:
        return replace(self, at=clock.wall_time(self.at, zone))


def relevel(values: pd.Series, shifts: Sequence[Shift]) -> pd.Series:
    """``values`` with every point before each shift moved by that shift's size."""
    index = pd.DatetimeIndex(values.index)
    moved = np.array(values, dtype=float)
    for shift in shifts:
        moved[index < shift.at] += shift.size
    return pd.Series(moved, index=values.index, name=values.name)


def settle_points(ctx: FitContext) -> int:
    return max(3, round(ctx.steps_per_day * SETTLE_DAY_FRACTION))


def follow(
    values: pd.Series,
    known: Sequence[Shift],
    ctx: FitContext,
    lower: float,
    upper: float,
    name: str,
    zone: str = zones.UTC,
) -> tuple[np.ndarray, tuple[Shift, ...]]:
    """``values`` of series ``name`` with the ``known`` shifts and a new one at the end taken out, and
    the shifts that still move something in them.

    A shift is measured first on three hours, and the newest is re-estimated as more follow. Once a
    cycle of the shortest period has followed a shift, the level over that whole cycle is checked: a
    change of the cycle's shape (the daily peak doubling) or an incident that returns leaves runs beyond
    the interval, up and then down, but no step over a whole cycle, and the shifts of that cycle are
    undone; otherwise they are settled.

    ``lower`` and ``upper`` are the model's one-step interval offsets: a step inside them is noise.
    ``values`` are on the wall clock of ``zone`` (capplan.clock); the log gives UTC times."""
    index = pd.DatetimeIndex(values.index)
    known = sorted((s for s in known if index[0] < s.at <= index[-1]), key=lambda s: s.at)  # in this data
    short = ctx.short_period
    # Measured on the data with only the settled shifts taken out, over the whole cycle after the oldest
    # young one: that step is the net of the young shifts in that cycle (a doubled daily peak sets off
    # one up in the morning and one down at night; two real steps in one day add up).
    settled = relevel(values, [s for s in known if s.settled]).to_numpy()
    kept = [s for s in known if s.settled]
    young = [s for s in known if not s.settled]
    while young and len(index) - (start := int(np.searchsorted(index, young[0].at))) >= short:
        group = [s for s in young if np.searchsorted(index, s.at) < start + short]
        young = young[len(group) :]
        step = _step_between(settled, ctx, start - short, start, start + short)
        if step is not None and lower <= step <= upper:
            log.info("series %r: no level shift over the cycle from %s: undone", name, _utc(group[0], zone))
            continue
        kept.extend(Shift(s.at, s.size, settled=True) for s in group)
    kept = sorted(kept, key=lambda s: s.at) + young
    y = relevel(values, kept).to_numpy(copy=True)
    if kept and not kept[-1].settled:
        start = int(np.searchsorted(index, kept[-1].at))
        step = _step_between(y, ctx, len(y) - _window(ctx), start, len(y))
        if step is not None:
            kept[-1] = Shift(kept[-1].at, kept[-1].size + step)
            y[:start] += step
    found = detect(y, ctx, lower, upper)
    if found is None or (kept and index[found[0]] <= kept[-1].at):  # the newest is re-estimated above
        return y, tuple(kept)
    start, size = found
    y[:start] += size
    shift = Shift(at=index[start], size=size)
    log.warning(
        "series %r: level shift of %+.4g from %s; the history before it is moved to the new level",
        name,
        size,
        _utc(shift, zone),
    )
    return y, (*kept, shift)


def _utc(shift: Shift, zone: str) -> str:
    return shift.in_utc(zone).at.isoformat()


def detect(y: np.ndarray, ctx: FitContext, lower: float, upper: float) -> tuple[int, float] | None:
    """(index of the first point at the new level, size) of a shift at the end of ``y``, or None.

    A shift is a run of at least ``settle_points`` points at the end, all beyond the one-step interval
    offsets ``lower``..``upper`` on the same side of the level before them: the buckets Kapacitor
    alerted on, one after another. Noise outside a 95% interval three times in a row on one side is a
    one-in-30,000 event; a lone spike is one point."""
    found = _residual(y, ctx)
    if found is None:
        return None
    origin, left = found
    settle = settle_points(ctx)
    # First against the window's first quarter, clean of any shift younger than a day and a half, then
    # against everything before the run. A point of noise back inside the interval does not end a run.
    start = max(2 * settle, len(left) // 4)
    for _ in range(2):
        deviation = median_filter(left - np.median(left[:start]), size=3, mode="nearest")
        run = _trailing_run(deviation, lower, upper)
        if run < settle or run > len(left) - settle:
            return None
        start = len(left) - run
    size = float(np.median(left[start:]) - np.median(left[:start]))
    if _ramps(left[start:], size) or _recurs_weekly(y, origin, origin + start, size, lower, upper, ctx):
        return None
    return origin + start, size


def _ramps(run: np.ndarray, size: float) -> bool:
    """The newer half of the run still climbs (or falls) by more than half the step: a change of slope,
    not of level. (A ramp over a few hours to a new level is a step once its plateau is.) Faster growth
    was otherwise taken for a new shift every few hours: against a line (before series without a season
    were left out) the line lost its slope, a week ahead 40-75 below the truth."""
    newer = run[len(run) // 2 :]
    if len(newer) < 2:
        return False
    slope = np.polyfit(np.arange(len(newer), dtype=float), newer, 1)[0]
    return bool(abs(slope) * (len(run) - 1) > abs(size) / 2)


def _recurs_weekly(
    y: np.ndarray, origin: int, start: int, size: float, lower: float, upper: float, ctx: FitContext
) -> bool:
    """The step is not one against the same hours a week before: Monday morning's rise on a series whose
    weekly cycle is too weak to be detected as a period, but stronger than the one-step interval.
    Measured on the change since a week before, a shift is still a step beyond the interval, and a
    weekly habit flattens out."""
    week = round(7 * ctx.steps_per_day)
    if origin < week:
        return False  # too little data to tell: taken as a shift
    since = y[origin:] - y[origin - week : len(y) - week]
    split = start - origin
    step = float(np.median(since[split:]) - np.median(since[:split]))
    return not (step > upper if size > 0 else step < lower)


def _trailing_run(deviation: np.ndarray, lower: float, upper: float) -> int:
    """How many points at the end lie beyond ``lower``..``upper``, all on the same side."""
    side = np.where(deviation > upper, 1, np.where(deviation < lower, -1, 0))
    if side[-1] == 0:
        return 0
    other = np.flatnonzero(side != side[-1])
    return len(side) - (int(other[-1]) + 1 if len(other) else 0)


def _step_between(y: np.ndarray, ctx: FitContext, origin: int, start: int, end: int) -> float | None:
    """The step at ``start`` in what a reference forecast made at ``origin`` leaves of ``y[origin:end]``
    (None when there is too little on either side, or before ``origin``, to measure it)."""
    if start - origin < settle_points(ctx) or end - start < 1 or end > len(y):
        return None
    left = _left(y, ctx, origin, end)
    if left is None:
        return None
    split = start - origin
    return float(np.median(left[split:]) - np.median(left[:split]))


def _window(ctx: FitContext) -> int:
    """The stretch at the end searched for a shift: two cycles of the shortest period."""
    return max(2 * ctx.short_period, 4 * settle_points(ctx))


def _residual(y: np.ndarray, ctx: FitContext) -> tuple[int, np.ndarray] | None:
    """(origin, what the last two cycles of the shortest period leave of a forecast made before them),
    or None for a series without a season.

    A series without a season is forecast by a line or a level, which find their own jumps
    (breakpoints, ``last_level_shift``); against a line, a change of slope looked like a staircase of
    shifts, and the line fell back to the last value for good."""
    if not ctx.periods:
        return None
    origin = len(y) - _window(ctx)
    left = _left(y, ctx, origin, len(y))
    return None if left is None else (origin, left)


def _left(y: np.ndarray, ctx: FitContext, origin: int, end: int) -> np.ndarray | None:
    """``y[origin:end]`` minus a reference forecast from ``y[:origin]``, which only says what the
    stretch would have looked like without a shift: a day's median level with the longest period's
    median profile. None when there is too little before ``origin``."""
    reference = SeasonalProfile()
    if origin < reference.min_points(ctx):
        return None
    try:
        return y[origin:end] - reference.fit(y[:origin], ctx).predict(end - origin)
    except CapplanError:
        return None
