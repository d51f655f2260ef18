"""A picture an operator can read: recent history, the forecast with its 95% band, and the capacity
threshold with the predicted crossing."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from capplan.capacity import CapacityAnswer


def plot_forecast(
    history: pd.Series,
    forecast: pd.DataFrame,
    output: Path,
    *,
    title: str,
    model: str = "",
    capacity: CapacityAnswer | None = None,
    history_span: pd.Timedelta | None = None,
) -> Path:
    """Write a PNG; ``history_span`` (default: three forecast horizons) keeps the forecast readable."""
    horizon = forecast.index[-1] - forecast.index[0]
    span = history_span or max(3 * horizon, pd.Timedelta("3D"))
    recent = history[history.index > history.index[-1] - span]
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    ax.plot(recent.index, recent.to_numpy(), color="#1f4e79", linewidth=1.0, label="observed")
    ax.fill_between(
        forecast.index,
        forecast["yhat_lower"].to_numpy(),
        forecast["yhat_upper"].to_numpy(),
        color="#f28e2b",
        alpha=0.25,
        label="95% interval",
    )
    ax.plot(forecast.index, forecast["yhat"].to_numpy(), color="#d35400", linewidth=1.4, label="forecast")
    ax.axvline(history.index[-1], color="grey", linestyle=":", linewidth=1)
    if capacity is not None:
        ax.axhline(capacity.threshold, color="#c0392b", linestyle="--", linewidth=1.2, label="threshold")
        if capacity.likely is not None:
            ax.axvline(capacity.likely, color="#c0392b", linewidth=1)
            ax.annotate(
                f"crosses in {capacity.seconds(capacity.likely) / 86400:.1f} d",
                xy=(capacity.likely, capacity.threshold),
                xytext=(-95, 8),
                textcoords="offset points",
                color="#c0392b",
            )
    ax.set_title(f"{title}" + (f"  —  model: {model}" if model else ""), fontsize=10)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output
