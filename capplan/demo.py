"""``capplan demo``: the whole job on built-in sample data with no servers — classify, train, save to a
local model store, forecast, answer capacity questions, draw plots and write a short report."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from capplan import sample_data
from capplan.capacity import CapacityAnswer, threshold_for, time_to_threshold
from capplan.config import Threshold
from capplan.plot import plot_forecast
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore

log = logging.getLogger(__name__)

DEMO_THRESHOLDS = (
    Threshold("disk", "used_percent", 80.0),
    Threshold("cpu", "usage_user", 90.0),
    Threshold("cloudwatch", "cpu_utilization", 90.0),
)


@dataclass(frozen=True)
class DemoSeries:
    key: SeriesKey
    kind: str
    periods: tuple[int, ...]
    model: str
    validation_mase: float
    why: str
    seconds: float
    capacity: CapacityAnswer | None
    plot: Path
    forecast_csv: Path


DEMO_HORIZON = pd.Timedelta("7D")


def run_demo(output: Path, *, horizon: pd.Timedelta = DEMO_HORIZON, seed: int = 0) -> list[DemoSeries]:
    from capplan import engine

    output.mkdir(parents=True, exist_ok=True)
    store = ModelStore(output / "models")
    done: list[DemoSeries] = []
    for key, history in sample_data.samples().items():
        started = time.monotonic()
        model = engine.fit(history, horizon, name=str(key), seed=seed)
        forecast = model.forecast().frame
        threshold = threshold_for(key, DEMO_THRESHOLDS)
        capacity = (
            time_to_threshold(forecast, threshold.value, history.index[-1], direction=threshold.direction)
            if threshold
            else None
        )
        store.save(key, model.save)
        name = store.series_dir(key).name
        csv_path = output / "forecasts" / f"{name}.csv"
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        forecast.to_csv(csv_path, date_format="%Y-%m-%dT%H:%M:%SZ")
        plot = plot_forecast(
            history,
            forecast,
            output / "plots" / f"{name}.png",
            title=str(key),
            model=model.model_name,
            capacity=capacity,
        )
        item = DemoSeries(
            key=key,
            kind=model.classification.kind,
            periods=tuple(model.classification.periods),
            model=model.model_name,
            validation_mase=float(model.validation_mase),
            why=model.why,
            seconds=time.monotonic() - started,
            capacity=capacity,
            plot=plot,
            forecast_csv=csv_path,
        )
        log.info("%s: %s, model %s (%.1f s)", key, item.kind, item.model, item.seconds)
        done.append(item)
    _write_report(output, done)
    return done


def _write_report(output: Path, items: list[DemoSeries]) -> None:
    lines = ["capplan demo report", "=" * 19, ""]
    for item in items:
        lines += [
            str(item.key),
            f"  classified {item.kind}" + (f", periods {list(item.periods)} steps" if item.periods else ""),
            f"  model {item.model}, backtest MASE {item.validation_mase:.3f}, fit {item.seconds:.1f} s",
            f"  why: {item.why}",
            f"  capacity: {item.capacity.describe() if item.capacity else 'no threshold configured'}",
            f"  plot {item.plot}",
            "",
        ]
    (output / "report.txt").write_text("\n".join(lines))
    (output / "report.json").write_text(
        json.dumps(
            [
                {
                    "series": str(i.key),
                    "kind": i.kind,
                    "periods": list(i.periods),
                    "model": i.model,
                    "validation_mase": i.validation_mase,
                    "why": i.why,
                    "seconds": round(i.seconds, 2),
                    "capacity": i.capacity.fields() if i.capacity else None,
                    "plot": str(i.plot),
                    "forecast": str(i.forecast_csv),
                }
                for i in items
            ],
            indent=2,
        )
    )
