"""When does a forecast cross a capacity threshold: the question capacity planners actually ask
("disk full in N days").  Pure computation on a forecast frame; no I/O.

Earliest / most likely / latest come from the upper bound, the point forecast and the lower bound of
the interval: for a rising metric the upper bound reaches the threshold first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from capplan.config import Threshold
from capplan.serieskey import SeriesKey

NOT_WITHIN_HORIZON = -1
"""Stored in place of a crossing time when the forecast does not reach the threshold in its horizon
(InfluxDB has no null or infinity); dashboards map it to "beyond horizon"."""


@dataclass(frozen=True)
class CapacityAnswer:
    threshold: float
    origin: pd.Timestamp  # last observed time: crossings are counted from here
    horizon_end: pd.Timestamp
    earliest: pd.Timestamp | None  # upper bound crosses
    likely: pd.Timestamp | None  # point forecast crosses
    latest: pd.Timestamp | None  # lower bound crosses

    def seconds(self, when: pd.Timestamp | None) -> int:
        if when is None:
            return NOT_WITHIN_HORIZON
        return max(0, int((when - self.origin).total_seconds()))

    @staticmethod
    def epoch_ms(when: pd.Timestamp | None) -> int:
        return NOT_WITHIN_HORIZON if when is None else int(when.value // 1_000_000)

    def fields(self) -> dict[str, float | int]:
        """Field set of the ``capacity_<measurement>`` point. The crossing times are also stored as
        epoch milliseconds: seconds counted from the last observation age as the point does, and a
        dashboard cannot subtract now() in InfluxQL; a date it can show as it is."""
        return {
            "threshold": float(self.threshold),
            "seconds_to_threshold": self.seconds(self.likely),
            "seconds_to_threshold_earliest": self.seconds(self.earliest),
            "seconds_to_threshold_latest": self.seconds(self.latest),
            "horizon_seconds": int((self.horizon_end - self.origin).total_seconds()),
            "reached_ms": self.epoch_ms(self.likely),
            "reached_earliest_ms": self.epoch_ms(self.earliest),
            "reached_latest_ms": self.epoch_ms(self.latest),
        }

    def describe(self) -> str:
        """One line for a person: when the threshold is likely reached, and the interval's range."""
        horizon = f"{self.seconds(self.horizon_end) / 86400:.1f} d"
        if self.earliest is None:
            return f"threshold {self.threshold:g}: not reached within the {horizon} horizon, even by the band"

        def days(when: pd.Timestamp | None) -> str:
            return f"after {horizon}" if when is None else f"in {self.seconds(when) / 86400:.1f} d"

        return (
            f"threshold {self.threshold:g}: likely {days(self.likely)} "
            f"(earliest {days(self.earliest)}, latest {days(self.latest)})"
        )


def _first_crossing(values: pd.Series, threshold: float, above: bool) -> pd.Timestamp | None:
    hit = values >= threshold if above else values <= threshold
    return hit.idxmax() if hit.any() else None


def time_to_threshold(
    forecast: pd.DataFrame, threshold: float, origin: pd.Timestamp, *, direction: str = "above"
) -> CapacityAnswer:
    """Crossing times of the forecast's bounds; ``origin`` is the last observed time, so a series
    already past the threshold answers at the first forecast step."""
    if forecast.empty:
        raise ValueError("empty forecast: nothing to compare with the threshold")
    above = direction == "above"
    first, last = ("yhat_upper", "yhat_lower") if above else ("yhat_lower", "yhat_upper")
    return CapacityAnswer(
        threshold=threshold,
        origin=origin,
        horizon_end=forecast.index[-1],
        earliest=_first_crossing(forecast[first], threshold, above),
        likely=_first_crossing(forecast["yhat"], threshold, above),
        latest=_first_crossing(forecast[last], threshold, above),
    )


def threshold_for(key: SeriesKey, thresholds: Iterable[Threshold]) -> Threshold | None:
    """Most specific configured threshold for the series: all its tags must match; more tags win."""
    tags = key.tag_dict
    matching = [
        t
        for t in thresholds
        if t.measurement == key.measurement
        and t.field == key.field
        and all(tags.get(k) == v for k, v in t.tags.items())
    ]
    return max(matching, key=lambda t: len(t.tags), default=None)
