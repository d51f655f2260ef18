"""Fit a series: prepare, classify, backtest every candidate at the real horizon, keep the best.

The seed's LSTM trio is one candidate among statistical ones and must earn its place per series; a
model that loses to seasonal naive in the backtest is never used, and the interval comes from the
winner's own backtest errors.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from capplan import backtest, clock, intervals, shifts, zones
from capplan.api import ForecastResult
from capplan.classify import Classification, classify
from capplan.config import written
from capplan.errors import CapplanError, DataError, ModelError
from capplan.models.base import FitContext, Forecaster
from capplan.models.changes import last_level_shift
from capplan.models.ensemble import Ensemble
from capplan.models.linear import LinearSegment
from capplan.models.naive import SeasonalNaive
from capplan.models.profile import SeasonalProfile
from capplan.models.registry import build, model_class
from capplan.series import PreparedSeries, buckets, checked, infer_step, prepare

log = logging.getLogger(__name__)

FORMAT = 1
SEASONAL_CANDIDATES = (
    "snaive",
    "profile",
    "profile6",
    "profile_slow",
    "profile_steady",
    "profile_trend",
    "mstl",
    "lstm",
    "ensemble",
)
# Without a season the profiles are robust levels (a day's median, a week's): a flat or noisy series is
# forecast by its typical value, not by whatever its last point was.
TREND_CANDIDATES = ("snaive", "linear", "profile", "profile_steady", "ensemble")
# Candidate id -> (model name, constructor keywords), for ids that are a variant of a model. Profiles
# over 6 cycles (steadier shape) and with a level over two short periods (steadier level) win on other
# series than the default; with them and the floor-inclusive ensemble, 26 weekly NAB origins before the
# benchmark's held-out weeks went from mean MASE 1.21 to 1.14 (statsforecast MSTL: 1.31). A level over
# seven short periods (a week for a daily cycle) is not dragged down by a holiday or a maintenance
# weekend at the end of the data: on the 27 long dev windows 1.171 -> 1.148 (nyc_taxi after
# Thanksgiving 1.43 -> 1.09), the 35 short ones unchanged (3.963 -> 3.958).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "profile6": ("profile", {"cycles": 6}),
    "profile_slow": ("profile", {"level_periods": 2}),
    "profile_steady": ("profile", {"level_periods": 7}),
    "profile_trend": ("profile", {"trend_periods": 14}),
}
SEASONAL_ONLY = ("mstl", "lstm")
ENSEMBLE_SIZE = 3
# A single candidate must beat the ensemble's backtest MASE by more than this to be chosen over it: among
# near-ties the backtest winner is partly luck, and the average is the safer bet (dev origins: 1.14 -> 1.12).
ENSEMBLE_MARGIN = 0.03
MIN_CYCLES = 3  # a period is modelled only with this many cycles in the data
# Beyond these sizes a fit takes minutes (a month of 1-minute data, 7 days ahead: 75-104 s, 1.4 GB).
LARGE_POINTS = 20_000
LARGE_HORIZON = 2_016  # a week at 5 minutes
# The update's check against seasonal naive guards a choice already made on the full backtest, so
# fewer origins do: with 16, an ensemble holding MSTL at a 267-step period took 1.35 s to update
# (0.86 s with 6).
RECHECK_ORIGINS = 4
SHIFT_BAND_AT_FIT = 2.0  # see fit
MIN_SEGMENT_ORIGINS = 4  # see _segment_interval
# Cycles of the longest period kept with the model for updates (the most any profile variant reads:
# with 4, profile6 was refitted on 4 weekly cycles after a one-day update), and at least the days the
# level-shift check needs.
TAIL_CYCLES = max(SeasonalProfile().cycles, *(params.get("cycles", 0) for _, params in VARIANTS.values()))


@dataclass(frozen=True)
class SeriesModel:
    """A fitted series: the winning model, its interval offsets, and the evidence for choosing it."""

    name: str
    step: pd.Timedelta
    first_observed: pd.Timestamp
    last_observed: pd.Timestamp
    classification: Classification
    ctx: FitContext
    model_id: str  # candidate id, e.g. "snaive24", "mstl", "ensemble"
    model: Forecaster
    lower: np.ndarray  # interval offsets per horizon step
    upper: np.ndarray
    scores: dict[str, float]  # backtest MASE of every candidate (NaN: could not be fitted)
    why: str
    tail: np.ndarray  # newest values up to last_observed, so an update on a short window can still refit
    meta: dict[str, Any] = field(default_factory=dict)
    # 0.0 when the training data never went below zero (CPU, bytes, counts): forecasts and interval
    # bounds stay at or above it instead of promising negative load. None: no floor.
    floor: float | None = None
    # Level shifts found by updates: the history before each is moved by its size (see capplan.shifts).
    level_shifts: tuple[shifts.Shift, ...] = ()
    # The winner of the full fit (id, kind, params): an update that fell back to seasonal naive returns
    # to it once it wins again.
    trained: dict[str, Any] | None = None
    # The clock the cycles follow (capplan.clock): times inside (tail, level shifts) are its wall-clock
    # times; first_observed and last_observed are UTC.
    timezone: str = zones.UTC

    @property
    def model_name(self) -> str:
        return self.model_id

    @property
    def validation_mase(self) -> float:
        return self.scores[self.model_id]

    def forecast(self, horizon: int | None = None) -> ForecastResult:
        """Forecast starting one step after the last observed point."""
        h = self.ctx.horizon if horizon is None else int(horizon)
        if h < 1:
            raise DataError(f"series {self.name!r}: horizon must be at least one step, got {h}")
        steps = clock.wall_steps(h, self.step, self.timezone)
        yhat = self.model.predict(steps)
        lower, upper = self._offsets(steps)
        if self.floor is not None:  # the upper bound, above the raised forecast, needs no clipping
            yhat = np.maximum(yhat, self.floor)
            lower = np.maximum(yhat + lower, self.floor) - yhat
        index = clock.wall_time(self.last_observed, self.timezone) + self.step * np.arange(1, steps + 1)
        frame = pd.DataFrame(
            {"yhat": yhat, "yhat_lower": yhat + lower, "yhat_upper": yhat + upper}, index=index
        )
        frame = clock.onto_utc(frame, self.last_observed, self.step, h, self.timezone)
        return ForecastResult(
            frame=frame,
            model_name=self.model_id,
            classification=self.classification,
            scores=dict(self.scores),
        )

    def _offsets(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The band around the forecast before the floor: the stored backtest offsets, widened for a
        linear winner to its regression interval, which grows with the distance from its segment."""
        lower, upper = _extend(self.lower, steps), _extend(self.upper, steps)
        if isinstance(self.model, LinearSegment):
            width = self.model.interval_halfwidth(steps)
            lower, upper = np.minimum(lower, -width), np.maximum(upper, width)
        return lower, upper

    def interval_source(self) -> str:
        """Where the band comes from. A linear winner's band is its regression interval wherever that is
        the wider, on either side; an update that fell back to seasonal naive keeps the trained winner's.
        Each reads after "the" (``capplan explain``: "95% from the ...")."""
        trained = self.trained["id"] if self.trained else self.model_id
        if trained != self.model_id:
            return f"trained winner {trained}'s band, kept since the update fell back to {self.model_id}"
        if not isinstance(self.model, LinearSegment):
            return f"backtest errors of {self.model_id}"
        h = self.ctx.horizon
        lower, upper = self._offsets(h)
        width = self.model.interval_halfwidth(h)
        sides = int(np.count_nonzero(lower == -width) + np.count_nonzero(upper == width))
        if sides == 2 * h:
            return "regression interval of the linear segment"
        if sides == 0:
            return "backtest errors inside the linear segment"
        return (
            "wider, step by step and side by side, of the linear segment's regression interval and "
            "its backtest errors"
        )

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) offsets from the forecast to the bounds it publishes, per horizon step: the
        stored offsets are only part of them (see ``_offsets``), and the floor clips them."""
        frame = self.forecast().frame
        return (frame.yhat_lower - frame.yhat).to_numpy(), (frame.yhat_upper - frame.yhat).to_numpy()

    def update(self, recent: pd.Series, *, keep_newer: bool = True) -> SeriesModel:
        """Continue on recent data (the LSTMs from their weights on their own recent window, cheap
        models refit), with the stored step, periods and scaler; the winner is re-checked against
        seasonal naive on it.

        The stored tail of the training data is put in front of ``recent`` (recent wins where they
        overlap; a long gap between them drops the tail), so a one-week window still holds enough
        cycles for a weekly profile. A level shift at the end of the data, and those found before, are
        taken out of it first (``capplan.shifts``)."""
        # The new samples' own spacing decides between snapping and bucketing, as it did at training:
        # the stored tail is already on the model's grid and would make raw data look coarse.
        recent = checked(recent.sort_index(), self.name).dropna()  # a batch may come in any order
        if recent.empty:
            raise DataError(f"series {self.name!r}: no recent data to update with; check the query window")
        native = infer_step(pd.DatetimeIndex(recent.index)) if len(recent) >= 2 else self.step
        prepared = prepare(self._with_tail(recent, keep_newer), self.name, step=self.step, native=native)
        newest = max(self.last_observed, recent.index[-1])
        observed = prepared.values.to_numpy()
        y, known = self._relevelled(prepared.values)
        try:
            model = self._copy_model().update(y, self.ctx)
        except CapplanError as exc:
            fix = (
                prepared.after_cut()
                if prepared.dropped_before is not None
                else "train it again on a longer history (capplan train)"
            )
            message = f"series {self.name!r}: cannot update on {len(y)} points ({exc}); {fix}"
            raise ModelError(message) from exc
        model_id, model, why = self.model_id, model, self.why
        check = _recheck(y, self.ctx, model, self.trained)
        if check is not None:
            model_id, model, why = check
        log.info("series %r updated on %d points: %s", self.name, len(y), model_id)
        return replace(
            self,
            model=model,
            model_id=model_id,
            why=why,
            last_observed=clock.to_utc(prepared.last_observed, self.timezone, near=newest),
            tail=observed[-len(self.tail) :],  # as observed: the shifts are applied again at each update
            floor=self.floor if self.floor is not None and float(np.min(observed)) >= self.floor else None,
            level_shifts=known,
        )

    def _relevelled(self, values: pd.Series) -> tuple[np.ndarray, tuple[shifts.Shift, ...]]:
        """The update's data with the known level shifts and a new one at its end taken out, and the
        shifts that still move something in it."""
        # The backtest's offsets, not the forecast's: near a floor of 0 those are clipped to almost
        # nothing, and steps of 0.1 counted as shifts.
        lower, upper = float(self.lower[0]), float(self.upper[0])
        return shifts.follow(values, self.level_shifts, self.ctx, lower, upper, self.name, self.timezone)

    def _with_tail(self, recent: pd.Series, keep_newer: bool) -> pd.Series:
        """The stored tail and the checked UTC ``recent``, on the model's wall clock."""
        index = pd.DatetimeIndex(
            clock.wall_time(self.last_observed, self.timezone) - self.step * np.arange(len(self.tail))[::-1]
        )
        stored = pd.Series(self.tail, index=index)
        # Stored points after the recent window stay (``keep_newer``): a re-sent or delayed batch must not
        # move the model back in time. A hold-out check wants the model as of the window's end instead.
        # Which is newer is asked in UTC: in the hour repeated when DST ends, the first pass's later
        # minutes have later wall times than the second pass's samples, which are newer.
        newer = keep_newer and self.last_observed > recent.index[-1]
        recent = clock.to_wall(recent, self.timezone)
        recent_index = pd.DatetimeIndex(recent.index)
        keep = (stored.index < recent_index[0]) | (newer & (stored.index > recent_index[-1]))
        return pd.concat([stored[keep], recent]).sort_index()

    def _copy_model(self) -> Forecaster:
        """A private copy of the fitted model through its own save/load, so ``update`` never changes
        this object (the LSTM weights are read back eagerly, so the directory can go at once)."""
        with tempfile.TemporaryDirectory(prefix="capplan-model-") as tmp:
            directory = Path(tmp)
            state = json.loads(json.dumps(self.model.save(directory)))
            return model_class(self.model.name).load(directory, self.model.params(), state, self.ctx)

    def explain(self) -> dict[str, Any]:
        lower, upper = self.band()
        return {
            "series": self.name,
            "classification": self.classification.to_dict(),
            "model": self.model_id,
            "validation_mase": self.validation_mase,
            "scores": self.scores,
            "why": self.why,
            "periods_used": list(self.ctx.periods),  # detected periods with enough cycles to model
            "horizon_steps": self.ctx.horizon,
            "step": self.step.isoformat(),
            "timezone": self.timezone,
            "data": {"first": self.first_observed.isoformat(), "last": self.last_observed.isoformat()},
            "interval": {
                "level": intervals.LEVEL,
                "source": self.interval_source(),
                "first_step": {"lower": float(lower[0]), "upper": float(upper[0])},
                "last_step": {"lower": float(lower[-1]), "upper": float(upper[-1])},
            },
            "level_shifts": [s.in_utc(self.timezone).to_dict() for s in self.level_shifts],
            "linear_segment": self._segment(),
        } | self.meta

    def _segment(self) -> dict[str, Any] | None:
        """The linear winner's segment: it forecasts from the points after its last slope change only."""
        if not isinstance(self.model, LinearSegment):
            return None
        state = self.model.state
        points = int(state["n"])
        start = clock.wall_time(self.last_observed, self.timezone) - self.step * (points - 1)
        return {
            "start": clock.to_utc(start, self.timezone, near=start).isoformat(),
            "steps": points,
            "slope_per_day": state["slope"] * self.ctx.steps_per_day,
        }

    def save(self, directory: Path) -> dict[str, Any]:
        state = self.model.save(directory)
        band_lower, band_upper = self.band()
        return {
            "format": FORMAT,
            "series": self.name,
            "model": {
                "id": self.model_id,
                "kind": self.model.name,
                "params": self.model.params(),
                "state": state,
            },
            "classification": self.classification.to_dict(),
            "periods": list(self.ctx.periods),
            "horizon": self.ctx.horizon,
            "steps_per_day": self.ctx.steps_per_day,
            "seed": self.ctx.seed,
            "step": self.step.isoformat(),
            "timezone": self.timezone,
            "data": {"first": self.first_observed.isoformat(), "last": self.last_observed.isoformat()},
            "interval": {
                "level": intervals.LEVEL,
                "source": self.interval_source(),
                "band": {"lower": band_lower.tolist(), "upper": band_upper.tolist()},
                "lower": self.lower.tolist(),  # the backtest offsets the band starts from
                "upper": self.upper.tolist(),
            },
            "validation": {"mase": self.validation_mase, "scores": self.scores, "why": self.why},
            "tail": self.tail.tolist(),
            "floor": self.floor,
            "level_shifts": [s.in_utc(self.timezone).to_dict() for s in self.level_shifts],
            "trained_model": self.trained,
            "versions": _versions(),
        } | self.meta

    @classmethod
    def load(cls, directory: Path, metadata: dict[str, Any]) -> SeriesModel:
        try:
            if metadata.get("format") != FORMAT:
                raise ModelError(
                    f"model format {metadata.get('format')!r} in {directory}; retrain the series"
                )
            ctx = FitContext(
                periods=tuple(metadata["periods"]),
                horizon=int(metadata["horizon"]),
                steps_per_day=float(metadata["steps_per_day"]),
                seed=int(metadata["seed"]),
            )
            spec = metadata["model"]
            zone = zones.check(metadata.get("timezone", zones.UTC))
            model = model_class(spec["kind"]).load(directory, spec["params"], spec["state"], ctx)
            model.predict(1)  # models read their state lazily: a missing entry shows here, not mid-retrain
            return cls(
                name=metadata["series"],
                step=pd.Timedelta(metadata["step"]),
                first_observed=pd.Timestamp(metadata["data"]["first"]),
                last_observed=pd.Timestamp(metadata["data"]["last"]),
                classification=Classification.from_dict(metadata["classification"]),
                ctx=ctx,
                model_id=spec["id"],
                model=model,
                lower=np.asarray(metadata["interval"]["lower"], dtype=float),
                upper=np.asarray(metadata["interval"]["upper"], dtype=float),
                scores={k: _score(v) for k, v in metadata["validation"]["scores"].items()},
                why=metadata["validation"]["why"],
                tail=np.asarray(metadata["tail"], dtype=float),
                floor=metadata.get("floor"),
                level_shifts=tuple(
                    shifts.Shift.from_dict(s).on_wall(zone) for s in metadata.get("level_shifts", [])
                ),
                trained=metadata.get("trained_model"),
                timezone=zone,
            )
        except (KeyError, TypeError, ValueError, DataError) as exc:
            raise ModelError(
                f"model metadata in {directory} is incomplete ({exc}); retrain the series"
            ) from exc


def fit(
    series: pd.Series,
    horizon: int | pd.Timedelta,
    *,
    name: str = "series",
    seed: int = 0,
    step: pd.Timedelta | None = None,
    candidates: Sequence[str] | None = None,
    lstm_epochs: int = 20,
    timezone: str = zones.UTC,
) -> SeriesModel:
    """Prepare, classify, backtest each candidate, pick the lowest backtest MASE, calibrate its interval.

    ``timezone``: the clock the series' cycles follow (see capplan.clock)."""
    started = time.perf_counter()
    zone = zones.check(timezone)
    observed = checked(series, name, zone).dropna()
    timezone = _clock_for(pd.DatetimeIndex(observed.index), zone, step, name)
    prepared = prepare(clock.to_wall(observed, timezone), name, step=step)
    first = clock.to_utc(prepared.values.index[0], timezone, near=observed.index[0])
    last = clock.to_utc(prepared.last_observed, timezone, near=observed.index[-1])
    y = prepared.values.to_numpy()
    h = _steps(horizon, prepared)
    classification = classify(y, prepared.steps_per_day)
    # Cycles are counted in time: on a wall clock the hour repeated when DST ends is one hour of points,
    # and three weeks of 15-minute data fell four points short of three weekly cycles.
    span = round((last - first) / prepared.step) + 1
    periods = tuple(p for p in classification.periods if MIN_CYCLES * p <= span)
    # A period without enough cycles cannot be estimated; the series is still forecast, by the models
    # that need no period (and the daily naive floor), rather than refused.
    unmodelled = [p for p in classification.periods if p not in periods]
    if unmodelled:
        log.warning(
            "series %r: period %s has fewer than %d cycles in %d points; modelled without it "
            "(query at least %d points to use it)",
            name,
            unmodelled,
            MIN_CYCLES,
            span,
            MIN_CYCLES * max(unmodelled),
        )
    while True:
        ctx = FitContext(periods=periods, horizon=h, steps_per_day=prepared.steps_per_day, seed=seed)
        default = SEASONAL_CANDIDATES if periods else TREND_CANDIDATES
        if periods and classification.trending:
            default = (*SEASONAL_CANDIDATES, "linear")  # growth may matter more than the cycle
        wanted = list(default) if candidates is None else list(candidates)
        models = _candidates(wanted, ctx, lstm_epochs, len(y))
        try:
            plan = _plan(y, ctx, models, name)
            break
        except DataError as exc:
            # The longest period needs more history than a backtest here has. Without it the series
            # is still forecast (by the shorter periods, or by the models that need none), not refused:
            # three weeks of a weekday/weekend load, a week ahead, is the API's default case.
            if periods:
                log.warning(
                    "series %r: period %d leaves too little data to backtest a %d-step horizon; modelled "
                    "without it",
                    name,
                    max(periods),
                    h,
                )
                unmodelled.append(max(periods))
                periods = tuple(p for p in periods if p != max(periods))
                continue
            if prepared.dropped_before is None:
                raise
            raise DataError(f"{exc} ({prepared.after_cut()})") from exc
    if len(y) > LARGE_POINTS or h > LARGE_HORIZON:  # only once the backtest is known to be possible
        log.warning(
            "series %r: %d points and a %d-step horizon at %s; fitting will take minutes: a coarser step "
            "(--step, or model.interval) is much faster and usually as good for capacity planning",
            name,
            len(y),
            h,
            written(prepared.step),
        )
    forecasts: dict[str, np.ndarray] = {}
    scores: dict[str, float] = {}
    for cid, model in models.items():
        t0 = time.perf_counter()
        try:
            forecasts[cid] = model.backtest_forecasts(y, plan.origins, h, ctx)
            scores[cid] = plan.mase(y, forecasts[cid])
        except CapplanError as exc:
            log.info("series %r: candidate %s skipped: %s", name, cid, exc)
            scores[cid] = float("nan")
        log.debug("series %r: %s backtest %.2f s", name, cid, time.perf_counter() - t0)
    naives = [c for c in forecasts if c.startswith("snaive")]
    if not naives:
        raise ModelError(f"series {name!r}: no seasonal naive could be backtested; query more history")
    floor_id = min(naives, key=lambda c: scores[c])
    floor = scores[floor_id]
    # The best few, the floor included: averaging a profile with the naive it refines also helps.
    in_mean = _naive_in_mean(y, ctx, floor_id)
    best = sorted(
        (c for c in forecasts if not c.startswith("snaive") or c == in_mean),
        key=lambda c: (scores[c], c.startswith("snaive")),
    )
    members = best[:ENSEMBLE_SIZE]
    if "ensemble" in wanted and len(members) >= 2:
        forecasts["ensemble"] = np.mean([forecasts[c] for c in members], axis=0)
        scores["ensemble"] = plan.mase(y, forecasts["ensemble"])
        models["ensemble"] = Ensemble.of([models[c] for c in members])
    # Candidates that failed have no forecasts. On an exact tie (a constant stretch) a model beats the
    # naive floor: a tie is not a loss, and the naive would repeat whatever the last points were.
    winner = min(forecasts, key=lambda c: (scores[c], c.startswith("snaive")))
    near_tie = "ensemble" in scores and scores[winner] > scores["ensemble"] * (1 - ENSEMBLE_MARGIN)
    best_single = winner
    if winner != "ensemble" and near_tie:
        winner = "ensemble"
    if scores[winner] > floor:
        winner = floor_id
    why = _why(winner, scores, floor_id, members if winner == "ensemble" else [], best_single)
    if unmodelled:
        why += (
            f"; period {unmodelled} not modelled: fewer than {MIN_CYCLES} cycles in {span} points, or too "
            f"little data to backtest it at a {h}-step horizon"
        )
    lower, upper = intervals.error_quantiles(plan.actuals(y) - forecasts[winner])
    # A series flat through every backtest window has all-zero errors and a zero-width interval. It
    # still spans the data's quantum (the smallest gap between two values it took), at most 1% of its
    # typical level: a gauge of 10 nodes that once read 0 must not get a band of +-10.
    lower, upper = _at_least(lower, upper, y)
    # A shift in the last day or two is most of the data the forecast starts from, and too little of
    # the backtest to have steered the choice: the winner is fitted with the history moved to it. With
    # no drift alert behind it, a step counts only beyond twice the one-step interval. At once the
    # interval, 2 of the 62 dev windows changed: a dip on cpu_utilization_asg (-2) that recovered over
    # the week, MASE 1.93 -> 3.40, and a drop on ec2_cpu_utilization_77c1ca (-1), 0.69 -> 0.37.
    band = SHIFT_BAND_AT_FIT * float(lower[0]), SHIFT_BAND_AT_FIT * float(upper[0])
    levelled, level_shifts = shifts.follow(prepared.values, (), ctx, *band, name, timezone)
    chosen = models[winner].fit(levelled, ctx)  # backtests fitted twins: this instance is still unfitted
    if isinstance(chosen, LinearSegment):
        # The regression interval is stored in the offsets too: an update that falls back to seasonal
        # naive keeps them, and without it published the data's resolution (+-0.0001) as the band.
        lower, upper = _at_least(*_segment_interval(plan, y, forecasts[winner], chosen), y)
        width = chosen.interval_halfwidth(h)
        lower, upper = np.minimum(lower, -width), np.maximum(upper, width)
    log.info("series %r: %s in %.2f s (%s)", name, winner, time.perf_counter() - started, why)
    return SeriesModel(
        name=name,
        step=prepared.step,
        first_observed=first,
        last_observed=last,
        classification=classification,
        ctx=ctx,
        model_id=winner,
        model=chosen,
        lower=lower,
        upper=upper,
        scores={c: round(float(s), 6) for c, s in scores.items()},
        why=why,
        tail=y[-max(TAIL_CYCLES * max(periods, default=1), round(shifts.HISTORY_DAYS * ctx.steps_per_day)) :],
        meta={
            "interpolated": prepared.interpolated,
            "bridged": prepared.bridged,
            "cut_because": prepared.cut_because or None,  # why data before ``first`` was left out
            "fit_seconds": round(time.perf_counter() - started, 3),
        },
        floor=0.0 if float(np.min(y)) >= 0 else None,
        level_shifts=level_shifts,
        trained={"id": winner, "kind": chosen.name, "params": chosen.params()},
        timezone=timezone,
    )


def _clock_for(raw: pd.DatetimeIndex, zone: str, step: pd.Timedelta | None, name: str) -> str:
    """``zone``, or UTC when the model's grid cannot follow that zone's clock changes (``raw``: the
    times of the observed values)."""
    if zone == zones.UTC or len(raw) < 2:
        return zone
    if clock.offsets(zone, raw[-1]) == {pd.Timedelta(0)}:  # Etc/UTC, GMT: the same clock
        return zones.UTC
    native = infer_step(raw)
    grid = step if step is not None else native
    if clock.follows(zone, grid, raw[-1], buckets=buckets(grid, native)):
        return zone
    log.warning(
        "series %r: %s moves its clock, or is offset from UTC, by other than whole %s steps; modelled on "
        "UTC time",
        name,
        zone,
        written(grid),
    )
    return zones.UTC


def _plan(y: np.ndarray, ctx: FitContext, models: dict[str, Forecaster], name: str) -> backtest.Backtest:
    """Backtest origins late enough for every candidate to fit at the earliest one. If the history is
    too short for that, the origins the data allows, without the candidates that cannot fit there
    (removed from ``models``, logged): a short history may rule out the LSTMs, never the naive floor."""
    season = min(ctx.periods) if ctx.periods else 1
    longest = max(ctx.periods, default=1)
    needs = {cid: model.min_points(ctx) for cid, model in models.items()}
    # Three weeks of hourly data, a week ahead: two weeks before each origin leave one origin, but one
    # week is enough for the weekly naive and profile, which then keep the weekly period (dropping it
    # made the forecast 7x worse than repeating the last week on a weekday/weekend load). One cycle of
    # the only period is too little history to judge by.
    attempts = [max(2 * longest, 12, *needs.values()), max(2 * longest, 12)]
    if len(ctx.periods) > 1:
        attempts.append(longest)
    for i, min_train in enumerate(attempts):
        try:
            plan = backtest.plan(y, ctx.horizon, min_train, season, name, count=_origins(ctx.horizon))
            break
        except DataError:
            if i == len(attempts) - 1:  # too short even for this: the error stands
                raise
    for cid, need in needs.items():
        if need > plan.origins[0]:
            log.info(
                "series %r: candidate %s left out: needs %d points before each backtest origin",
                name,
                cid,
                need,
            )
            del models[cid]
    return plan


def _origins(horizon: int) -> int:
    """Enough backtest origins that the first step's interval pools ``intervals.min_pool`` errors: a
    one-step horizon from 16 origins covered 87%."""
    return max(backtest.ORIGINS, math.ceil(intervals.min_pool() / min(horizon, 3)))


def _candidates(wanted: Sequence[str], ctx: FitContext, lstm_epochs: int, n: int) -> dict[str, Forecaster]:
    """Candidate id -> unfitted model. Seasonal naive is always in, with every period and the day: it
    is the floor."""
    models: dict[str, Forecaster] = {}
    day = round(ctx.steps_per_day)
    floors = set(ctx.periods or (1,)) | ({day} if day >= 2 and MIN_CYCLES * day <= n else set())
    for p in sorted(floors):
        models[f"snaive{p}"] = SeasonalNaive(period=p)
    for cid in wanted:
        if cid in ("snaive", "ensemble") or (cid in SEASONAL_ONLY and not ctx.periods):
            continue
        kind, params = VARIANTS.get(cid, (cid, {"epochs": lstm_epochs} if cid == "lstm" else {}))
        models[cid] = build(kind, params)
    return models


def _recheck(
    y: np.ndarray, ctx: FitContext, model: Forecaster, trained: dict[str, Any] | None
) -> tuple[str, Forecaster, str] | None:
    """On the update data, a cheap winner must still beat the best seasonal naive at the horizon; if
    not, the update falls back to that naive. A model that fell back gets the winner of its training
    (``trained``: id, kind, params) back once that beats the naive again: a bad week (an incident, a
    holiday) otherwise left it on the naive until the next full train. (The LSTM trio is not
    re-backtested: that is a full fit; a window too short for a backtest keeps the model.)"""
    fell_back = isinstance(model, SeasonalNaive)
    if fell_back and (trained is None or trained["kind"] == SeasonalNaive.name):
        return None
    spec = (trained["kind"], trained["params"]) if trained and fell_back else (model.name, model.params())
    twin = build(*spec)  # unfitted: its backtest fits twins of its own
    if "lstm" in _member_names(twin):
        return None
    periods = ctx.periods or (1,)
    try:
        plan = backtest.plan(
            y, ctx.horizon, max(2 * max(periods), 12), min(periods), "update", count=RECHECK_ORIGINS
        )
        score = plan.mase(y, twin.backtest_forecasts(y, plan.origins, ctx.horizon, ctx))
    except CapplanError:
        return None
    floors = {
        p: plan.mase(y, SeasonalNaive(p).backtest_forecasts(y, plan.origins, ctx.horizon, ctx))
        for p in periods
    }
    best = min(floors, key=floors.get)
    scores = f"on the update data {twin.name} scored {score:.3f}, snaive{best} {floors[best]:.3f}"
    if trained and fell_back:
        return (trained["id"], twin.fit(y, ctx), f"{scores}: back to it") if score < floors[best] else None
    if score <= floors[best]:
        return None
    return f"snaive{best}", SeasonalNaive(best).fit(y, ctx), f"{scores}: fell back"


def _naive_in_mean(y: np.ndarray, ctx: FitContext, floor_id: str) -> str:
    """The seasonal naive that joins the ensemble's mean: the floor, except on a series without a season
    whose level shifted within the floor's last cycle. There yesterday's hours are the old level, and
    the level models restart after the shift: a load that dropped from 60 to 14 twenty-two hours before
    came back in the mean as a daily peak of 35, and the drift alert would have fired every day."""
    period = int(floor_id.removeprefix("snaive"))
    if ctx.periods or period == 1:
        return floor_id
    recent = y[-2 * period :]
    since = last_level_shift(recent, max(3, ctx.short_period // 8))  # as the level models look for one
    return "snaive1" if since > len(recent) - period else floor_id


def _member_names(model: Forecaster) -> list[str]:
    return [m.name for m in model.models] if isinstance(model, Ensemble) else [model.name]


def _why(winner: str, scores: dict[str, float], floor_id: str, members: list[str], best: str) -> str:
    ranked = ", ".join(
        f"{c} {s:.3f}" for c, s in sorted(scores.items(), key=lambda kv: (np.isnan(kv[1]), kv[1]))
    )
    if winner == floor_id:
        return f"no candidate beat seasonal naive ({floor_id}) in the backtest; ranking: {ranked}"
    mean = f" (mean of {', '.join(members)})" if members else ""
    lead = f"lowest backtest MASE at the forecast horizon{mean}"
    if winner != best:
        lead = (
            f"ensemble{mean} within {ENSEMBLE_MARGIN:.0%} of the best single candidate {best}: the safer bet"
        )
    return f"{lead}, beating {floor_id} {scores[floor_id]:.3f}; ranking: {ranked}"


def _segment_interval(
    plan: backtest.Backtest, y: np.ndarray, forecast: np.ndarray, line: LinearSegment
) -> tuple[np.ndarray, np.ndarray]:
    """The line's interval from the backtest origins inside its own segment. Origins before the slope
    change score the old slope: for disk usage growing 10x faster since 400 hours, they made the band
    a week ahead 13 wide where the errors were within 0.6. With fewer than ``MIN_SEGMENT_ORIGINS``
    such origins the regression interval alone (``LinearSegment.interval_halfwidth``) is the band."""
    start = int(line.state["breakpoint"]) + line.min_segment if line.state else 0
    inside = [i for i, origin in enumerate(plan.origins) if origin >= start]
    if len(inside) < MIN_SEGMENT_ORIGINS:
        zero = np.zeros(plan.horizon)
        return zero, zero
    return intervals.error_quantiles((plan.actuals(y) - forecast)[inside])


def _steps(horizon: int | pd.Timedelta, prepared: PreparedSeries) -> int:
    if isinstance(horizon, (int, np.integer)):
        h = int(horizon)
        if h < 1:
            raise DataError(f"series {prepared.name!r}: horizon {h} steps; give at least 1")
        return h
    span = pd.Timedelta(horizon)
    if span < prepared.step:  # a mistake (24 read as nanoseconds), not one step
        step = written(prepared.step)
        raise DataError(
            f"series {prepared.name!r}: horizon {written(span)} is shorter than one step ({step}); give "
            f"{step} or more, or a number of steps"
        )
    return math.ceil(span / prepared.step)


def _at_least(lower: np.ndarray, upper: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    quantum = float(np.min(np.diff(np.unique(y))))  # prepare refuses constant series: two values at least
    typical = float(np.median(np.abs(y)))
    half = min(quantum, 0.01 * typical) if typical > 0 else quantum
    return np.minimum(lower, -half), np.maximum(upper, half)


def _extend(offsets: np.ndarray, h: int) -> np.ndarray:
    """Offsets for ``h`` steps. Beyond the calibrated horizon the squared width keeps growing at the rate
    it grew over the calibrated horizon's second half, as a random walk's variance does (not at all for
    noise around a steady level; from zero at step 0 when too few steps were calibrated to tell): held
    constant, a one-day calibration covered 78% of a random-walk level in the second week ahead."""
    n = len(offsets)
    if h <= n:
        return offsets[:h]
    half = n // 2
    last = offsets[-1] ** 2
    rate = (last - offsets[half - 1] ** 2) / (n - half) if n >= 4 else last / n
    extra = np.sqrt(last + max(rate, 0.0) * np.arange(1, h - n + 1))
    return np.concatenate([offsets, np.sign(offsets[-1]) * extra])


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("capplan", "numpy", "pandas", "scipy", "statsmodels", "keras", "jax"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _score(value: float | None) -> float:
    """A stored backtest score; null is a candidate that could not be scored (written as NaN)."""
    return float("nan") if value is None else float(value)
