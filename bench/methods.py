"""The forecasting methods compared, each turned into one call: hourly training values + horizon ->
point forecast and 95% interval.

The reference methods are imported lazily so the benchmark can run a subset without installing the
``bench`` extra (statsforecast, prophet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVEL = 95
PERIODS = (24, 168)
MIN_CYCLES = 2  # MSTL needs two full cycles of a period to estimate it
PROPHET_SEED = 0


@dataclass(frozen=True)
class Prediction:
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    note: str = ""  # what the method chose (capplan's model, MSTL's periods)


Method = Callable[[pd.Series, int], Prediction]


def seasonal_naive(period: int) -> Method:
    """Repeat the last cycle; the 95% interval is the empirical 2.5-97.5% range of the in-sample errors
    of the same look-back (k cycles for steps in the k-th cycle ahead), so it widens as forecasts reuse
    older data; a look-back longer than the data falls back to one cycle."""

    def run(train: pd.Series, h: int) -> Prediction:
        y = train.to_numpy(dtype=float)
        if len(y) <= period:
            raise ValueError(f"seasonal naive {period} needs more than {period} points, got {len(y)}")
        steps = np.arange(h)
        cycles = steps // period + 1
        yhat = y[len(y) - period + steps % period]
        lower, upper = np.empty(h), np.empty(h)
        for k in np.unique(cycles):
            lag = k * period
            errors = y[lag:] - y[:-lag] if lag < len(y) else y[period:] - y[:-period]
            lo, hi = np.percentile(errors, [(100 - LEVEL) / 2, 100 - (100 - LEVEL) / 2])
            lower[cycles == k], upper[cycles == k] = yhat[cycles == k] + lo, yhat[cycles == k] + hi
        return Prediction(yhat, lower, upper)

    return run


def mstl(train: pd.Series, h: int) -> Prediction:
    """statsforecast MSTL with the periods that have two cycles of data and an AutoETS trend."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    periods = [p for p in PERIODS if MIN_CYCLES * p <= len(train)]
    model = MSTL(season_length=periods, trend_forecaster=AutoETS(model="ZZN"))
    frame = pd.DataFrame({"unique_id": "s", "ds": train.index, "y": train.to_numpy(dtype=float)})
    out = StatsForecast(models=[model], freq="h").forecast(df=frame, h=h, level=[LEVEL])
    return Prediction(
        out["MSTL"].to_numpy(),
        out[f"MSTL-lo-{LEVEL}"].to_numpy(),
        out[f"MSTL-hi-{LEVEL}"].to_numpy(),
        note=f"periods {periods}",
    )


def prophet(train: pd.Series, h: int) -> Prediction:
    """Prophet with its default seasonalities (daily, and weekly once two weeks exist) and a 95% interval.

    Prophet draws its interval from numpy's global generator and takes no seed, so it is seeded here:
    otherwise the coverage figure changes from run to run."""
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    model = Prophet(interval_width=LEVEL / 100)
    model.fit(pd.DataFrame({"ds": train.index, "y": train.to_numpy(dtype=float)}))
    future = pd.DataFrame({"ds": train.index[-1] + pd.Timedelta("1h") * np.arange(1, h + 1)})
    np.random.seed(PROPHET_SEED)
    out = model.predict(future)
    return Prediction(out["yhat"].to_numpy(), out["yhat_lower"].to_numpy(), out["yhat_upper"].to_numpy())


def capplan(train: pd.Series, h: int) -> Prediction:
    """capplan's full fit (classification, every candidate backtested, interval from the winner's
    backtest errors) and its forecast."""
    from capplan import engine

    model = engine.fit(train, h, name=str(train.name), step=pd.Timedelta("1h"))
    frame = model.forecast(h).frame
    return Prediction(
        frame["yhat"].to_numpy(),
        frame["yhat_lower"].to_numpy(),
        frame["yhat_upper"].to_numpy(),
        note=model.model_id,
    )


METHODS: dict[str, Method] = {
    "snaive24": seasonal_naive(24),
    "snaive168": seasonal_naive(168),
    "mstl": mstl,
    "prophet": prophet,
    "capplan": capplan,
}
REFERENCES = ("snaive24", "snaive168", "mstl", "prophet")
