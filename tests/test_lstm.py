"""The LSTM trio: decomposition edges, forecast alignment, the model contract, determinism, learning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from capplan.errors import DataError, ModelError
from capplan.models.base import FitContext
from capplan.models.lstm import COMPONENTS, LstmTrio, component_model, decompose, model_parts

PERIOD = 24
HORIZON = 48
CTX = FitContext(periods=(PERIOD,), horizon=HORIZON, steps_per_day=24, seed=0)
N = 24 * 35  # fit on 5 weeks of hourly points


def signal(n: int, noise: float = 0.3, seed: int = 3) -> np.ndarray:
    """Hourly CPU-like series: an asymmetric daily bump (so a half-period shift is obvious) on a rising
    trend, with a little noise."""
    t = np.arange(n)
    hours = t % PERIOD
    bump = 20 * np.exp(-(((hours - 15) / 3.0) ** 2)) + 0.3 * hours
    return 30 + bump + 0.01 * t + np.random.default_rng(seed).normal(0, noise, n)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)))


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    return signal(N + HORIZON)


@pytest.fixture(scope="module")
def fitted(series: np.ndarray) -> LstmTrio:
    return LstmTrio().fit(series[:N], CTX)


def weights(model: LstmTrio) -> list[np.ndarray]:
    return [np.array(v.value) for c in COMPONENTS for v in model._models[c].weights]


# --- pure parts ---------------------------------------------------------------------------------------


def test_decompose_covers_the_edges_and_sums_back() -> None:
    y = signal(24 * 10)
    parts = decompose(y, PERIOD)
    assert parts.shape == (3, len(y))
    assert not np.isnan(parts).any()  # the moving average's lost edges are extrapolated
    np.testing.assert_allclose(parts.sum(axis=0), y)
    np.testing.assert_allclose(parts[1][:PERIOD], parts[1][PERIOD : 2 * PERIOD])  # periodic seasonal


def test_decompose_needs_two_periods() -> None:
    with pytest.raises(DataError, match="at least 48"):
        decompose(signal(47), PERIOD)


def test_model_parts_bases() -> None:
    series = np.arange(100.0)[None]
    origins = np.array([59, 99])
    x, base = model_parts("trend", series, origins, look_back=4, period=10, block=3)
    np.testing.assert_array_equal(x, [[-3, -2, -1, 0]] * 2)  # window relative to its last value
    np.testing.assert_array_equal(base, [[59] * 3, [99] * 3])
    x, base = model_parts("seasonal", series, origins, look_back=4, period=10, block=12)
    np.testing.assert_array_equal(x[0], [56, 57, 58, 59])
    # step k repeats the latest value of the same phase at or before the origin
    np.testing.assert_array_equal(base[0], [50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 50, 51])
    x, base = model_parts("residual", series, origins, look_back=4, period=10, block=3)
    np.testing.assert_array_equal(base, np.zeros((2, 3)))


def test_invalid_hyper_parameters_fail_at_once() -> None:
    with pytest.raises(ValueError):
        LstmTrio(units=0)
    with pytest.raises(ValueError):
        LstmTrio(block=0)


def test_needs_a_period_and_enough_data() -> None:
    with pytest.raises(ModelError, match="seasonal period"):
        LstmTrio().fit(signal(500), FitContext(periods=(), horizon=24, steps_per_day=24))
    with pytest.raises(DataError, match="at least"):
        LstmTrio().fit(signal(60), CTX)


# --- trained model ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_forecast_starts_right_after_the_last_observation(fitted: LstmTrio, series: np.ndarray) -> None:
    truth = series[N : N + HORIZON]
    forecast = fitted.predict(HORIZON)
    assert forecast.shape == (HORIZON,)
    # a forecast anchored at the last decomposed point would be half a period late
    late = np.roll(truth, PERIOD // 2)
    assert mae(forecast, truth) < 0.25 * mae(forecast, late)
    assert abs(forecast[0] - truth[0]) < 2.0


@pytest.mark.slow
def test_learns_the_seasonal_signal_far_better_than_flat(fitted: LstmTrio, series: np.ndarray) -> None:
    truth = series[N : N + HORIZON]
    flat = np.full(HORIZON, series[N - 1])
    assert mae(fitted.predict(HORIZON), truth) < 0.2 * mae(flat, truth)


@pytest.mark.slow
def test_any_length_and_blocks_chain_consistently(fitted: LstmTrio) -> None:
    long = fitted.predict(100)  # beyond the horizon: blocks fed back
    assert long.shape == (100,)
    assert np.isfinite(long).all()
    for h in (1, 24, 30):
        np.testing.assert_allclose(fitted.predict(h), long[:h], rtol=1e-6)


@pytest.mark.slow
def test_deterministic_for_a_seed(fitted: LstmTrio, series: np.ndarray) -> None:
    again = LstmTrio().fit(series[:N], CTX)
    np.testing.assert_array_equal(again.predict(HORIZON), fitted.predict(HORIZON))
    other = LstmTrio().fit(series[:N], FitContext((PERIOD,), HORIZON, 24, seed=1))
    assert not np.array_equal(other.predict(HORIZON), fitted.predict(HORIZON))


@pytest.fixture(scope="module")
def saved(fitted: LstmTrio, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("lstm")
    state = json.loads(json.dumps(fitted.save(directory)))  # metadata.json round trip
    return directory, state


@pytest.mark.slow
def test_save_load_gives_identical_predictions(fitted: LstmTrio, saved: tuple[Path, dict]) -> None:
    directory, state = saved
    assert {f"{c}.weights.h5" for c in COMPONENTS} <= {p.name for p in directory.iterdir()}
    assert state["period"] == PERIOD and state["look_back"] == PERIOD and state["backend"] == "jax"
    loaded = LstmTrio.load(directory, fitted.params(), state, CTX)
    np.testing.assert_array_equal(loaded.predict(HORIZON), fitted.predict(HORIZON))


@pytest.mark.slow
def test_load_of_a_broken_directory_says_so(
    fitted: LstmTrio, saved: tuple[Path, dict], tmp_path: Path
) -> None:
    _, state = saved
    with pytest.raises(ModelError, match="cannot load the LSTM trio"):
        LstmTrio.load(tmp_path, fitted.params(), state, CTX)


@pytest.mark.slow
def test_each_component_loads_on_its_own(fitted: LstmTrio, saved: tuple[Path, dict]) -> None:
    directory, state = saved
    window = np.linspace(-1, 1, state["look_back"], dtype="float32")[None, :, None]
    for c in COMPONENTS:
        alone = component_model(c, state["look_back"], state["block"], fitted.units)
        alone.load_weights(directory / f"{c}.weights.h5")
        np.testing.assert_allclose(
            alone.predict_on_batch(window), fitted._models[c].predict_on_batch(window), rtol=1e-6
        )


@pytest.mark.slow
def test_update_continues_training_and_keeps_the_signal_definition(
    fitted: LstmTrio, saved: tuple[Path, dict], series: np.ndarray
) -> None:
    directory, state = saved
    model = LstmTrio.load(directory, fitted.params(), state, CTX)
    before = weights(model)
    newer = np.concatenate([series, signal(N + 2 * HORIZON)[N + HORIZON :]])  # 48 new points
    model.update(newer, FitContext(periods=(168,), horizon=HORIZON, steps_per_day=24, seed=0))
    assert any(not np.array_equal(a, b) for a, b in zip(before, weights(model), strict=True))
    kept = ("period", "look_back", "block", "scales")
    assert {k: getattr(model.state, k) for k in kept} == {k: getattr(fitted.state, k) for k in kept}
    assert model.state.epochs == fitted.state.epochs + model.update_epochs
    # the forecast now continues from the newest point, and still follows the signal
    truth = signal(N + 3 * HORIZON)[N + 2 * HORIZON :]
    flat = np.full(HORIZON, newer[-1])
    assert mae(model.predict(HORIZON), truth) < 0.2 * mae(flat, truth)


@pytest.mark.slow
def test_update_needs_enough_recent_points(fitted: LstmTrio) -> None:
    with pytest.raises(DataError, match="update got"):
        fitted.update(signal(96), CTX)


@pytest.mark.slow
def test_backtest_forecasts_look_only_before_each_origin(series: np.ndarray) -> None:
    origins = [N - 3 * PERIOD, N - PERIOD, N]
    model = LstmTrio()
    first = model.backtest_forecasts(series, origins, HORIZON, CTX)
    assert first.shape == (len(origins), HORIZON)
    assert model.state is None  # a twin was fitted, the model itself is untouched
    changed = series.copy()
    changed[origins[1] :] += 50.0  # only the last origin may see this
    second = LstmTrio().backtest_forecasts(changed, origins, HORIZON, CTX)
    np.testing.assert_array_equal(first[:2], second[:2])
    assert not np.allclose(first[2], second[2])
    truth = series[N : N + HORIZON]
    assert mae(first[2], truth) < 0.3 * mae(np.full(HORIZON, series[N - 1]), truth)


@pytest.mark.slow
def test_keras_is_lazy_defaults_to_jax_and_caches_compiled_graphs(tmp_path: Path) -> None:
    script = """
import sys
import capplan.models.lstm
assert "keras" not in sys.modules, "importing the model must not import keras"
from capplan.models import keras_backend
keras = keras_backend.keras()
assert keras.backend.backend() == "jax", keras.backend.backend()
keras.ops.add(keras.ops.ones(3), 1.0)
"""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "JAX_COMPILATION_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    assert any((tmp_path / "capplan" / "jax").iterdir())
