"""Trend-only or seasonal, and with which periods, decided from the autocorrelation function.

Lags are chosen from the sampling rate so the ACF spans two weeks (or as much as the data allows)
whatever the interval: the original's fixed lags 2..59 saw 2.5 days of hourly data and 1 hour of
minute data. Periods come from the ACF peaks, not from a hard-coded 24*7+1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.signal import find_peaks
from scipy.stats import norm
from statsmodels.tsa.stattools import acf

from capplan.errors import DataError
from capplan.models.changes import spike_window, without_spikes

R2_TREND = 0.8  # ACF falling in a straight line (r^2 >= this) with no strong peak = trend, no season
MIN_PROMINENCE = 0.1  # an ACF peak weaker than this is noise, not a season
SECOND_PERIOD_MARGIN = 0.05  # a multiple of the first period that stands out by this much is a period
MIN_POINTS = 8
FALSE_PERIOD_RATE = 0.05  # chance that white noise gets a period at an odd lag
SPAN_DAYS = 14  # ACF lags cover two of the longest candidate period (a week)


@dataclass(frozen=True)
class Classification:
    """The decision and the numbers behind it, so ``capplan explain`` can show why."""

    kind: str  # "seasonal" or "trend"
    periods: tuple[int, ...]  # in steps, strongest first; () for "trend"
    pearson_r: float  # correlation of ACF with lag
    max_lag: int
    peak_lags: tuple[int, ...]  # every ACF peak found
    peak_prominences: tuple[float, ...]
    reason: str
    trending: bool = False  # seasonal, but found only once a straight-line trend was taken out

    @property
    def seasonal(self) -> bool:
        return self.kind == "seasonal"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"periods": list(self.periods)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Classification:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)


def classify(y: np.ndarray, steps_per_day: float) -> Classification:
    """Classify a regular, gap-free series (see :func:`capplan.series.prepare`).

    One huge spike (a runaway process, a counter glitch) can hold most of the variance, and then the
    ACF shows no cycle although every day repeats: the seasonal naive that won then copied the spike
    into every day of the forecast. A cycle that shows once lone spikes are set aside is a cycle. The
    raw series is looked at first, so spikes that recur (a nightly job) stay part of the season."""
    y = np.asarray(y, dtype=float)
    if len(y) < MIN_POINTS:
        raise DataError(f"{len(y)} points cannot be classified; at least {MIN_POINTS} are needed")
    found = _classify(y, steps_per_day)
    if found.seasonal:
        return found
    clean = without_spikes(y, spike_window(round(steps_per_day)))
    spikes = int(np.count_nonzero(clean != y))
    if spikes == 0 or np.ptp(clean) == 0:  # a flat series with one spike: nothing periodic left
        return found
    again = _classify(clean, steps_per_day)
    if not again.seasonal:
        return found
    return replace(again, reason=f"{again.reason}; found with {spikes} lone spikes set aside")


def _classify(y: np.ndarray, steps_per_day: float) -> Classification:
    max_lag = int(min(round(SPAN_DAYS * steps_per_day), len(y) // 2))
    max_lag = max(max_lag, 2)
    rho = acf(y, nlags=max_lag, fft=True)
    lags = np.arange(1, max_lag + 1)
    r = float(np.corrcoef(lags, rho[1:])[0, 1]) if np.std(rho[1:]) > 0 else 0.0
    peaks, props = find_peaks(rho, prominence=MIN_PROMINENCE / 2)
    prominences = props["prominences"]
    found = _periods(rho, peaks, prominences, steps_per_day)
    periods = _significant(found, rho, len(y), steps_per_day)
    peak_lags = tuple(int(p) for p in peaks)
    proms = tuple(round(float(p), 4) for p in prominences)
    strength = _prominence(periods, peaks, prominences) if periods else 0.0
    if periods and (r * r < R2_TREND or strength >= 2 * MIN_PROMINENCE):
        reason = f"ACF peaks at lags {list(periods)} (prominence >= {MIN_PROMINENCE}); " + (
            f"r^2={r * r:.2f} < {R2_TREND}: no straight-line trend"
            if r * r < R2_TREND
            else f"r^2={r * r:.2f} >= {R2_TREND} (the ACF falls in a straight line), but a peak of "
            f"prominence {strength:.2f} >= {2 * MIN_PROMINENCE:g} outweighs it"
        )
        longer = _longer_under_trend(y, max_lag, periods, steps_per_day)
        if longer:
            periods = (*periods, longer)
            reason += f"; and at lag {longer} once the straight-line trend is taken out"
        return Classification("seasonal", periods, r, max_lag, peak_lags, proms, reason)
    why = f"r^2={r * r:.2f} >= {R2_TREND}" if r * r >= R2_TREND else f"r^2={r * r:.2f}, no ACF peak"
    if periods:  # on a straight-line ACF, a peak must stand out twice as far to count
        peak = (
            f"the peak at lag {periods[0]}"
            if len(periods) == 1
            else f"the strongest peak at lags {list(periods)}"
        )
        why += f" and {peak} has prominence {strength:.2f} < {2 * MIN_PROMINENCE:g}"
    seasons = _seasons_under_trend(y, max_lag, steps_per_day)
    if seasons:
        reason = (
            f"{why}, but without its straight-line trend the ACF peaks at lags {list(seasons)} and again at "
            "their multiples: trend with a season"
        )
        return Classification("seasonal", seasons, r, max_lag, peak_lags, proms, reason, trending=True)
    peakless = "" if periods else f"ACF without a periodic peak (>= {MIN_PROMINENCE} prominence), "
    reason = f"{why}: {peakless}trend model"
    if found and not periods:
        reason += f"; the peak at lag {found[0]} is within white noise's range over {max_lag} lags"
    return Classification("trend", (), r, max_lag, peak_lags, proms, reason)


def _seasons_under_trend(y: np.ndarray, max_lag: int, steps_per_day: float) -> tuple[int, ...]:
    """Periods of a cycle riding on a strong trend (growing load), which dominates the raw ACF.

    The least-squares line is taken out and the ACF looked at again; a bent trend (a disk whose fill
    rate changed) leaves one broad bump there, so a period counts only if a strong peak comes back at
    twice its lag: a cycle repeats, a bend does not."""
    rho = _detrended_acf(y, max_lag)
    if rho is None:
        return ()
    peaks, props = find_peaks(rho, prominence=MIN_PROMINENCE / 2)
    prominences = props["prominences"]
    periods = _significant(_periods(rho, peaks, prominences, steps_per_day), rho, len(y), steps_per_day)
    if not periods or _prominence(periods, peaks, prominences) < 2 * MIN_PROMINENCE:
        return ()
    first = periods[0]
    tolerance = max(1, first // 12)
    if 2 * first > max_lag:
        return ()
    # After the trough between the period and its double, the ACF rises again near the double (which
    # may be the last lag computed, where find_peaks sees no peak).
    trough = float(np.min(rho[first + 1 : 2 * first - tolerance + 1]))
    again = float(np.max(rho[2 * first - tolerance : 2 * first + tolerance + 1]))
    return periods if again - trough >= MIN_PROMINENCE else ()


def _longer_under_trend(
    y: np.ndarray, max_lag: int, periods: tuple[int, ...], steps_per_day: float
) -> int | None:
    """A weekly cycle over the daily one that a moderate trend hid. The trend lifts the whole raw ACF
    and flattens the weekly peak against its neighbours: daily cycle + weekend dip + 0.05/h growth
    kept only the day, and the weekend was forecast for the whole week (MAE 15.6; 2.2 with the week)."""
    if len(periods) != 1:
        return None
    rho = _detrended_acf(y, max_lag)
    if rho is None:
        return None
    peaks, props = find_peaks(rho, prominence=MIN_PROMINENCE / 2)
    found = _significant(
        _periods(rho, peaks, props["prominences"], steps_per_day), rho, len(y), steps_per_day
    )
    return found[1] if len(found) == 2 and found[0] == periods[0] else None


def _detrended_acf(y: np.ndarray, max_lag: int) -> np.ndarray | None:
    """ACF of what the least-squares line leaves; None when it leaves nothing."""
    t = np.arange(len(y))
    residual = y - np.polyval(np.polyfit(t, y, 1), t)
    if np.std(residual) == 0:
        return None
    return acf(residual, nlags=max_lag, fft=True)


def _periods(
    rho: np.ndarray, peaks: np.ndarray, prominences: np.ndarray, steps_per_day: float
) -> tuple[int, ...]:
    """The fundamental period, then a longer one if one of its multiples stands out above its
    neighbours (a weekly cycle over a daily one).

    The fundamental is the highest strong peak brought down to its highest strong divisor (a weekly
    peak over daily ones means a daily period first); lags within 5% of a day or a week snap to it, as
    ACF peaks of noisy data wander by a step or two. A strong daily peak is preferred to an odd lag."""
    strong = peaks[prominences >= MIN_PROMINENCE]
    if len(strong) == 0:
        return ()
    top = int(strong[np.argmax(rho[strong])])
    divisors = [int(p) for p in strong if p < top and _near_multiple(top, int(p))]
    first = _snap(max(divisors, key=lambda p: rho[p]) if divisors else top, steps_per_day)
    daily = [int(p) for p in strong if _snap(int(p), steps_per_day) == round(steps_per_day)]
    day = round(steps_per_day)
    if daily and first != day and not _near_multiple(day, first) and rho[daily[0]] >= 0.5 * rho[top]:
        first = day  # a clear daily peak beats a stronger odd lag: load follows the clock
    periods = [first]
    multiples = [int(p) for p in peaks if p >= 2 * first and _near_multiple(int(p), first)]
    for i, lag in enumerate(multiples):
        neighbours = [rho[m] for m in multiples[max(0, i - 1) : i] + multiples[i + 1 : i + 2]]
        if len(neighbours) == 2 and rho[lag] - max(neighbours) >= SECOND_PERIOD_MARGIN:
            periods.append(first * round(lag / first))  # whole cycles: 97 would slide a 24-step shape
            break
    return tuple(periods)


def _prominence(periods: tuple[int, ...], peaks: np.ndarray, prominences: np.ndarray) -> float:
    """The strongest prominence among the peaks nearest the periods kept: a peak set aside as noise
    does not vouch for a weak daily one."""
    return max(float(prominences[np.argmin(np.abs(peaks - p))]) for p in periods)


def _significant(periods: tuple[int, ...], rho: np.ndarray, n: int, steps_per_day: float) -> tuple[int, ...]:
    """The periods an odd lag of white noise would rarely reach, and the day and the week.

    A fixed prominence is no test for a lag found by searching: the ACF of noise wanders by about
    1/sqrt(n), and across the hundreds of lags searched one peak stood 0.1 above its neighbours in
    every one of 40 white-noise series of 288 to 1,344 hourly points (periods 13, 38, 47, 324...). An
    odd lag is the best of max_lag tried, so it must pass a Bonferroni bound over them. The day and the
    week are what load follows and are kept on their prominence: testing them too cost 3% MASE on the
    short dev windows, where a weak daily cycle still forecasts better than no season."""
    day, week = round(steps_per_day), round(7 * steps_per_day)
    band = norm.ppf(1 - FALSE_PERIOD_RATE / (len(rho) - 1)) / np.sqrt(n)
    return tuple(p for p in periods if p in (day, week) or rho[p] >= band)


def _snap(lag: int, steps_per_day: float) -> int:
    for days in (1, 7):
        exact = round(days * steps_per_day)
        if exact >= 2 and abs(lag - exact) <= 0.05 * exact:
            return exact
    return lag


def _near_multiple(lag: int, period: int) -> bool:
    k = round(lag / period)
    return k >= 2 and abs(lag - k * period) <= max(1, period // 12)
