"""Use-cases: the only module that wires the pure engine to InfluxDB and the model store.

Order of effects is chosen so a failure never loses data: the new model version is saved atomically
before the forecast is written, and the forecast writer only removes old points after the new ones are
stored.  A retrain that validates worse than the model it would replace is not kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from capplan import influx
from capplan.capacity import CapacityAnswer, threshold_for, time_to_threshold
from capplan.config import PARTIAL_BUCKET_AGGREGATES, Settings, duration
from capplan.errors import CapplanError, ConfigError, DataError, InfluxError, InfluxTimeout, InfluxUnreachable
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore, StoredSeries
from capplan.tick import AlertWindow

if TYPE_CHECKING:
    from capplan.engine import SeriesModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    key: SeriesKey
    model_name: str
    periods: tuple[int, ...]
    validation_mase: float
    seconds: float
    version: int
    forecast_points: int
    capacity: CapacityAnswer | None = None


@dataclass(frozen=True)
class RetrainResult:
    key: SeriesKey
    version_before: int
    version_after: int
    kept_previous: bool
    forecast_points: int
    seconds: float
    mae_before: float
    mae_after: float
    why_kept: str = ""  # why the previous version stayed, when it did

    @property
    def validation(self) -> str:
        """The hold-out comparison in words; a single new bucket is learned from, not held out."""
        if np.isnan(self.mae_before) or np.isnan(self.mae_after):
            return "no hold-out (too few new buckets to hold one out)"
        return f"hold-out MAE {self.mae_before:.4g} -> {self.mae_after:.4g}"


SHOWN_FAILURES = 3  # reasons in the final error line; every one is logged as it happens


@dataclass
class FleetReport:
    """Outcome of a command over many series: one failure does not stop the others."""

    results: list[Any] = field(default_factory=list)
    failures: dict[SeriesKey, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)  # [[series]] that found no series (a typo?)

    def raise_if_incomplete(self) -> None:
        """After the others ran: failed series or a [[series]] that matched nothing exit non-zero, so
        a cron job notices (a typo in a name used to pass with a warning and exit 0)."""
        problems = []
        if self.failures:
            shown = [f"{key}: {why}" for key, why in list(self.failures.items())[:SHOWN_FAILURES]]
            more = len(self.failures) - len(shown)
            reasons = "; ".join(shown) + (f"; {more} more in the log" if more > 0 else "")
            problems.append(f"{len(self.failures)} series failed ({reasons})")
        if self.unmatched:
            problems.append(
                f"{', '.join(self.unmatched)} matched no series with recent data (check the names with "
                "SHOW MEASUREMENTS and SHOW FIELD KEYS)"
            )
        if problems:
            raise CapplanError("; ".join(problems))


@dataclass(frozen=True)
class Discovery:
    keys: list[SeriesKey]
    unmatched: list[str]  # "[[series]] <measurement> <field>" of the specs that found nothing


STALE_AFTER = pd.Timedelta("1D")


def _step(settings: Settings) -> pd.Timedelta:
    return pd.Timedelta(duration(settings.model.interval))


def _window_end(step: pd.Timedelta, now: pd.Timestamp | None) -> pd.Timestamp:
    """End (exclusive) of the last complete bucket: a half-filled bucket would read as a dip."""
    return (now or pd.Timestamp.now(tz="UTC")).floor(step)


def capacity_of(
    settings: Settings, key: SeriesKey, origin: pd.Timestamp, forecast: pd.DataFrame
) -> CapacityAnswer | None:
    """Crossing times counted from ``origin``, the model's last observation (a refresh can carry a
    newer one than its complete-bucket window holds)."""
    threshold = threshold_for(key, settings.thresholds)
    if threshold is None:
        return None
    return time_to_threshold(forecast, threshold.value, origin, direction=threshold.direction)


def _capacity_record(capacity: CapacityAnswer | None) -> dict | None:
    return None if capacity is None else {**capacity.fields(), "origin": capacity.origin.isoformat()}


def _metadata_with_capacity(
    write: Callable[[Path], dict], capacity: CapacityAnswer | None
) -> Callable[[Path], dict]:
    def wrapped(directory: Path) -> dict:
        metadata = write(directory)
        if capacity is not None:
            metadata["capacity"] = _capacity_record(capacity)
        return metadata

    return wrapped


def _publish(
    settings: Settings,
    client,
    key: SeriesKey,
    forecast: pd.DataFrame,
    model_name: str,
    capacity: CapacityAnswer | None,
) -> int:
    written = influx.write_forecast(client, settings.influxdb, key, forecast, model_name)
    _publish_capacity(settings, client, key, capacity)
    return written


def _publish_capacity(settings: Settings, client, key: SeriesKey, capacity: CapacityAnswer | None) -> None:
    if capacity is not None:
        influx.write_capacity(client, settings.influxdb, key, capacity.fields(), capacity.origin)
    ModelStore.for_series(settings, key).save_capacity(key, _capacity_record(capacity))


def _save_and_publish(
    settings: Settings,
    client,
    store: ModelStore,
    key: SeriesKey,
    model: SeriesModel,
    forecast: pd.DataFrame,
    capacity: CapacityAnswer | None,
    made_by: str,
) -> tuple[int, int]:
    """(version, forecast points): the model is saved, then its forecast written; if that write fails
    the version is discarded and the one before stays current. Saved and left, a trained v1 with no
    forecast showed in ``status`` as trained, and a retrain's next run found "no data newer" and never
    wrote it. Old versions are pruned only once the forecast is written, so the one to go back to is
    still there; a failure after the forecast (the capacity answer) keeps the version it belongs to."""
    previous = store.current(key)
    version = store.save(key, _metadata_with_capacity(model.save, capacity), made_by=made_by, prune=False)
    try:
        points = influx.write_forecast(client, settings.influxdb, key, forecast, model.model_name)
    except BaseException as exc:
        outcome = f"model v{version} discarded, " + (
            f"v{previous} stays current" if previous else "none stored"
        )
        try:
            store.discard(key, version, previous)
        except (OSError, CapplanError) as undo:  # the write's failure is the one to report
            outcome = f"model v{version} could not be discarded ({undo}): check `capplan models show`"
        log.error("%s: forecast write failed (%s); %s", key, exc, outcome)
        raise
    store.prune(key)
    _publish_capacity(settings, client, key, capacity)
    return version, points


def train_series(
    settings: Settings, key: SeriesKey, *, client=None, now: pd.Timestamp | None = None
) -> TrainResult:
    """Full fit on ``model.history`` of data, saved as a new model version, forecast written."""
    key.forecast_tags()  # a series whose tags clash with capplan's is refused before a model is saved

    store = ModelStore.for_series(settings, key)
    with store.lock(key):  # before the fit: a store it cannot write to is refused at once, not after it
        return _train_locked(settings, key, store, client or influx.connect(settings.influxdb), now)


def _warn_if_stale(key: SeriesKey, last: pd.Timestamp, step: pd.Timedelta, now: pd.Timestamp | None) -> None:
    """A host that stopped reporting days ago is still trained (its history is real), but its forecast
    and time to threshold count from its last data, not from now: said, so a dead host is noticed."""
    age = (now or pd.Timestamp.now(tz="UTC")) - last
    if age > max(STALE_AFTER, 2 * step):
        log.warning(
            "%s: newest data is %s old (%s); its forecast and time to threshold start there: check that "
            "it still reports",
            key,
            str(age.floor("min")),
            last.isoformat(),
        )


def _train_locked(
    settings: Settings, key: SeriesKey, store: ModelStore, client, now: pd.Timestamp | None
) -> TrainResult:
    from capplan import engine

    started = time.monotonic()
    history = read_history(settings, client, key, pd.Timedelta(duration(settings.model.history)), now=now)
    model = engine.fit(
        history,
        pd.Timedelta(duration(settings.model.horizon)),
        name=str(key),
        seed=settings.model.seed,
        step=_step(settings),
        lstm_epochs=settings.model.lstm_epochs,
        timezone=settings.model.timezone,
    )
    _warn_if_stale(key, model.last_observed, _step(settings), now)
    result = model.forecast()
    capacity = capacity_of(settings, key, model.last_observed, result.frame)
    version, points = _save_and_publish(settings, client, store, key, model, result.frame, capacity, "train")
    log.info(
        "trained %s: %s v%d, validation MASE %.3f", key, model.model_name, version, model.validation_mase
    )
    return TrainResult(
        key=key,
        model_name=model.model_name,
        periods=tuple(model.classification.periods),
        validation_mase=float(model.validation_mase),
        seconds=time.monotonic() - started,
        version=version,
        forecast_points=points,
        capacity=capacity,
    )


def load_model(settings: Settings, key: SeriesKey, version: int | None = None):
    from capplan.engine import SeriesModel

    path, metadata = ModelStore.for_series(settings, key).load(key, version)
    return SeriesModel.load(path, metadata), metadata


def read_history(
    settings: Settings,
    client,
    key: SeriesKey,
    span: pd.Timedelta,
    *,
    end: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
) -> pd.Series:
    """The series as its model sees it (configured aggregate at the model interval) over [end - span,
    end); ``end`` defaults to the end of the last complete bucket before ``now``."""
    step = _step(settings)
    end = _window_end(step, now) if end is None else end
    aggregate = settings.spec_for(key.measurement, key.field).aggregate
    return influx.read_series(
        client, settings.influxdb, key, aggregate=aggregate, every=step, start=end - span, end=end
    )


def _retrain_window(settings: Settings, client, key: SeriesKey, now: pd.Timestamp | None) -> pd.Series:
    """Recent data for a retrain: the complete buckets Kapacitor judged. Under a schedule shorter than
    the model interval it judged the bucket still filling, and with its alert sent once
    (stateChangesOnly) a retrain without that bucket would never learn the drift: then it is read too,
    for aggregates that estimate a bucket fairly from part of it (mean, median, ...; sums and counts
    grow through it). Under the default schedule the filling bucket holds the seconds since the hour,
    and a retrain's capacity answer, stamped an hour later than a train's, hid the newer one."""
    step = _step(settings)
    end = None
    aggregate = settings.spec_for(key.measurement, key.field).aggregate
    if aggregate in PARTIAL_BUCKET_AGGREGATES and _judges_filling_buckets(settings):
        end = _window_end(step, now) + step
    return _recent(settings, client, key, now, end=end)


def _judges_filling_buckets(settings: Settings) -> bool:
    try:
        return AlertWindow.of(settings.model.interval, settings.kapacitor.every).judges_filling_buckets
    except ConfigError:  # a model.interval TICKscript cannot read: no task compares anything
        return False


def _recent(
    settings: Settings, client, key: SeriesKey, now: pd.Timestamp | None, *, end: pd.Timestamp | None = None
) -> pd.Series:
    span = pd.Timedelta(duration(settings.model.retrain_window))
    return read_history(settings, client, key, span, end=end, now=now)


def refresh_forecast(
    settings: Settings, key: SeriesKey, *, client=None, now: pd.Timestamp | None = None
) -> int:
    """Carry the stored model forward to the newest data and rewrite the forecast; the stored model
    itself is not changed (that is ``retrain``'s job). Under the series' lock: a retrain saving a new
    version meanwhile would otherwise have its forecast overwritten by the older version's."""
    client = client or influx.connect(settings.influxdb)
    with ModelStore.for_series(settings, key).lock(key, stored=True):
        model, _ = load_model(settings, key)
        recent = _recent(settings, client, key, now)
        current = model.update(recent)
        result = current.forecast()
        capacity = capacity_of(settings, key, current.last_observed, result.frame)
        return _publish(settings, client, key, result.frame, current.model_name, capacity)


def _within_forecast(model: SeriesModel, when: pd.Timestamp, value: float) -> bool:
    """``value`` at ``when`` lies in the model's 95% interval (for its own last point, revised since:
    the first step's interval around the value it saw)."""
    if when <= model.last_observed:
        return bool(model.lower[0] <= value - model.tail[-1] <= model.upper[0])
    steps = int((when - model.last_observed) / model.step)
    row = model.forecast(steps).frame.iloc[-1]
    return bool(row["yhat_lower"] <= value <= row["yhat_upper"])


def _holdout_mae(forecast: pd.DataFrame, actual: pd.Series) -> float:
    """Mean absolute error over the timestamps both have; NaN when they share none."""
    both = pd.concat([forecast["yhat"], actual.rename("actual")], axis=1, join="inner").dropna()
    return float((both["yhat"] - both["actual"]).abs().mean()) if len(both) else float("nan")


def retrain(
    settings: Settings, key: SeriesKey, *, client=None, now: pd.Timestamp | None = None
) -> RetrainResult:
    """Incremental fit from the saved weights on recent data (what Kapacitor's exec hook runs).

    Validation: the newest part of the data the stored model has not seen (half of it, a day at most)
    is held out; the stored model's own forecast (the one that drifted) and a copy updated on the data
    before the hold-out are both scored on it. Only if the update is no worse is the model updated on
    the whole window and saved as a new version with a new forecast; otherwise the previous version and
    its forecast stay, and the result says so. Without unseen data nothing is saved; with a single
    unseen bucket there is nothing to hold out and the update is saved.
    """
    store = ModelStore.for_series(settings, key)
    with store.lock(key, stored=True):  # load -> compare -> save as one step: a concurrent train waits
        return _retrain_locked(settings, key, store, client or influx.connect(settings.influxdb), now)


def _retrain_locked(
    settings: Settings, key: SeriesKey, store: ModelStore, client, now: pd.Timestamp | None
) -> RetrainResult:
    started = time.monotonic()
    step = _step(settings)
    old, metadata = load_model(settings, key)
    version_before = int(metadata["version"])
    recent = _retrain_window(settings, client, key, now).dropna()
    # Only data the stored model has not seen can judge it: without any, a retrain has nothing to learn,
    # and saving anyway would push good versions out of the store (keep_versions) for nothing. The
    # newest bucket the model saw counts as unseen if its value has changed since (it was still filling).
    index = pd.DatetimeIndex(recent.index)
    values = recent.to_numpy(dtype=float)
    revised = (index == old.last_observed) & ~np.isclose(values, old.tail[-1], rtol=1e-12, atol=0.0)
    unseen = int(((index > old.last_observed) | revised).sum())
    filling = unseen == 1 and index[-1] >= _window_end(step, now)
    if unseen == 0 or (filling and _within_forecast(old, index[-1], values[-1])):
        why = f"no data newer than the model's last observation {old.last_observed.isoformat()}"
        if unseen:  # a Telegraf point more in the current hour is not a drift to learn
            why = "only the bucket still filling is new, and it is inside the forecast's interval"
        log.info("retrain %s: %s; kept v%d", key, why, version_before)
        nan = float("nan")
        return RetrainResult(
            key, version_before, version_before, True, 0, time.monotonic() - started, nan, nan, why
        )
    mae_before = mae_after = float("nan")
    if unseen >= 2:  # one new bucket cannot be both learned from and held out: it is learned from
        # Half of the unseen data at most, so the update has new data to learn from before the hold-out.
        holdout = min(len(recent) // 4, max(1, int(pd.Timedelta("1D") / step)), unseen // 2)
        if holdout < 1:
            raise DataError(f"{key}: only {len(recent)} recent points; widen model.retrain_window")
        head, tail = recent.iloc[:-holdout], recent.iloc[-holdout:]
        first_step = old.forecast(1).frame.index[0]
        steps_to_tail_end = int((tail.index[-1] - first_step) / step) + 1
        mae_before = _holdout_mae(old.forecast(max(steps_to_tail_end, 1)).frame, tail)
        # The model as it would be with data up to the hold-out only, even if trained past its start.
        mae_after = _holdout_mae(old.update(head, keep_newer=False).forecast(holdout).frame, tail)
    kept_previous = mae_after > mae_before  # NaN, nothing to compare: the new data is learned
    version_after, points = version_before, 0
    if not kept_previous:
        new = old.update(recent)
        result = new.forecast()
        capacity = capacity_of(settings, key, new.last_observed, result.frame)
        version_after, points = _save_and_publish(
            settings, client, store, key, new, result.frame, capacity, "retrain"
        )
    result = RetrainResult(
        key=key,
        version_before=version_before,
        version_after=version_after,
        kept_previous=kept_previous,
        forecast_points=points,
        seconds=time.monotonic() - started,
        mae_before=mae_before,
        mae_after=mae_after,
        why_kept="the update validated worse on the hold-out" if kept_previous else "",
    )
    log.info(
        "retrained %s: v%d -> v%d (%s%s)",
        key,
        version_before,
        version_after,
        result.validation,
        ", kept previous" if kept_previous else "",
    )
    return result


def discover(
    settings: Settings,
    *,
    client=None,
    measurement: str | None = None,
    field_name: str | None = None,
    where: dict[str, str] | None = None,
) -> Discovery:
    """Every series of the configured specs with data within ``model.history`` of now, narrowed by the
    CLI filters, and the specs that found none; none at all is an error saying where capplan looked."""
    if not settings.series:
        raise ConfigError("no [[series]] in the configuration: add one (measurement, field) to capplan.toml")
    client = client or influx.connect(settings.influxdb)
    keys: list[SeriesKey] = []
    unmatched: list[str] = []
    for spec in settings.series:
        if (measurement and spec.measurement != measurement) or (field_name and spec.field != field_name):
            continue
        lookback = pd.Timedelta(duration(settings.model.history))
        found = influx.discover_series(client, settings.influxdb, spec, lookback=lookback)
        if not found:  # a typo in a measurement or field name would otherwise pass without a word
            unmatched.append(f"[[series]] {spec.measurement} {spec.field}")
            log.warning(
                "[[series]] %s %s%s: no series with data in the last %s; check the names with SHOW "
                "MEASUREMENTS and SHOW FIELD KEYS FROM %s",
                spec.measurement,
                spec.field,
                f" where {spec.where}" if spec.where else "",
                settings.model.history,
                spec.measurement,
            )
        keys.extend(k for k in found if all(k.tag_dict.get(t) == v for t, v in (where or {}).items()))
    if not keys:
        raise DataError(
            f"no series matched in the last {settings.model.history} (model.history counts back from now): "
            "check [[series]], the filters and that recent data exists in InfluxDB"
        )
    return Discovery(keys, unmatched)


def left_over(settings: Settings, stored: list[StoredSeries] | None = None) -> list[StoredSeries]:
    """Stored series (``stored``, else the store's) no [[series]] names any more: nothing refreshes
    their forecasts, so their alerts would judge a forecast that only gets older. A configuration
    without any [[series]] (one kept for the alerts or the store alone) names none and flags none."""
    if not settings.series:
        return []
    stored = ModelStore.for_series(settings).list() if stored is None else stored
    return [s for s in stored if not settings.configures(s.key.measurement, s.key.field)]


def left_over_advice(found: list[StoredSeries]) -> str:
    names = ", ".join(str(s.key) for s in found[:SHOWN_FAILURES])
    more = f" and {len(found) - SHOWN_FAILURES} more" if len(found) > SHOWN_FAILURES else ""
    return (
        f"{len(found)} stored series no [[series]] names ({names}{more}): their forecasts are no longer "
        f"refreshed; add the [[series]] back, or delete their alerts and their directories under "
        f"{found[0].path.parent.parent}"
    )


def for_each(
    keys: Iterable[SeriesKey],
    action: Callable[[SeriesKey], Any],
    progress: Callable[[SeriesKey], None] | None = None,
    unmatched: Iterable[str] = (),
) -> FleetReport:
    report = FleetReport(unmatched=list(unmatched))
    down: InfluxError | None = None  # InfluxDB unreachable, or timed out for two series in a row
    timed_out = False
    for key in keys:
        if down is not None:  # a hung server cost its timeout for each of 14 series: 7 minutes
            report.failures[key] = f"not tried: {down}"
        else:
            try:
                report.results.append(action(key))
                timed_out = False
            except (InfluxUnreachable, InfluxTimeout) as exc:
                # One heavy query may time out alone; a second in a row, or no connection, is the server.
                if isinstance(exc, InfluxUnreachable) or timed_out:
                    down = exc
                timed_out = isinstance(exc, InfluxTimeout)
                log.error("%s: %s%s", key, exc, "; the remaining series are not tried" if down else "")
                report.failures[key] = str(exc)
            except (CapplanError, OSError) as exc:  # one series' full disk or bad file stops no other
                log.error("%s: %s", key, exc)
                report.failures[key] = str(exc)
                timed_out = False
        if progress:
            progress(key)
    return report
