"""Every statistical model through the same checks: shape, finiteness, fit+predict == backtest from the
same origin, unfitted twin from params, save/load gives the same forecast, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from capplan.models.base import FitContext, Forecaster
from capplan.models.ensemble import Ensemble
from capplan.models.linear import LinearSegment
from capplan.models.lstm import decompose
from capplan.models.mstl import MstlEts
from capplan.models.naive import SeasonalNaive
from capplan.models.profile import SeasonalProfile
from capplan.models.registry import build, model_class

CTX = FitContext(periods=(24, 168), horizon=48, steps_per_day=24, seed=0)


def series(n: int = 800) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(3)
    return (
        20 + 0.01 * t + 4 * np.sin(2 * np.pi * t / 24) + 2 * np.sin(2 * np.pi * t / 168) + rng.normal(0, 1, n)
    )


MODELS = [
    lambda: SeasonalNaive(period=24),
    lambda: SeasonalProfile(),
    lambda: MstlEts(),
    lambda: LinearSegment(),
    lambda: Ensemble([{"name": "profile", "params": {}}, {"name": "snaive", "params": {"period": 168}}]),
]


@pytest.fixture(params=MODELS, ids=lambda f: f().name)
def model(request) -> Forecaster:
    return request.param()


def test_shape_and_finite(model):
    yhat = model.fit(series(), CTX).predict(60)
    assert yhat.shape == (60,) and np.isfinite(yhat).all()


def test_backtest_equals_fit_predict_at_each_origin(model):
    y = series()
    origins = [500, 620]
    bt = model.backtest_forecasts(y, origins, 48, CTX)
    assert bt.shape == (2, 48)
    for row, o in zip(bt, origins, strict=True):
        twin = build(model.name, model.params())
        assert np.allclose(row, twin.fit(y[:o], CTX).predict(48))


def test_backtest_does_not_look_past_the_origin(model):
    y = series()
    changed = y.copy()
    changed[600:] += 1000
    assert np.allclose(
        model.backtest_forecasts(y, [600], 48, CTX), model.backtest_forecasts(changed, [600], 48, CTX)
    )


def test_save_load_same_forecast(model, tmp_path):
    fitted = model.fit(series(), CTX)
    state = json.loads(json.dumps(fitted.save(tmp_path)))
    params = json.loads(json.dumps(fitted.params()))
    loaded = model_class(model.name).load(tmp_path, params, state, CTX)
    assert np.allclose(loaded.predict(48), fitted.predict(48))


def test_deterministic(model):
    a = model.fit(series(), CTX).predict(48)
    b = build(model.name, model.params()).fit(series(), CTX).predict(48)
    assert np.array_equal(a, b)


def test_seasonal_models_learn_the_cycle():
    y = series(1000)
    truth = series(1048)[-48:]
    naive_err = np.abs(SeasonalNaive(24).fit(y, CTX).predict(48) - truth).mean()
    for m in (SeasonalProfile(), MstlEts()):
        assert np.abs(m.fit(y, CTX).predict(48) - truth).mean() < naive_err


def test_a_steady_level_ignores_a_dip_at_the_end_and_fits_on_short_data():
    y = series(1000)
    y[-30:] -= 15  # a holiday at the end of the data
    truth = series(1048)[-48:]
    quick, steady = SeasonalProfile(), SeasonalProfile(level_periods=7)
    assert (
        np.abs(steady.fit(y, CTX).predict(48) - truth).mean()
        < 0.5 * np.abs(quick.fit(y, CTX).predict(48) - truth).mean()
    )
    # Seven days of level on four days of data: the level comes from what there is.
    daily = FitContext(periods=(24,), horizon=48, steps_per_day=24, seed=0)
    assert np.isfinite(SeasonalProfile(level_periods=7).fit(series(96), daily).predict(48)).all()


def test_bad_hyper_parameters_fail_at_once():
    with pytest.raises(ValueError):
        SeasonalNaive(period=0)
    with pytest.raises(ValueError):
        MstlEts(max_cycles=1)
    with pytest.raises(ValueError):
        Ensemble([{"name": "profile", "params": {}}])


def test_mstl_and_the_lstm_decomposition_set_a_lone_spike_aside():
    """Both are fitted on raw values: a spike 5 hours before the end became a peak in every forecast day."""
    t = np.arange(24 * 28)
    truth = 50 + 10 * np.cos(2 * np.pi * (t % 24 - 14) / 24)
    y = truth + np.random.default_rng(0).normal(0, 1, len(t))
    y[-5] += 500
    ctx = FitContext(periods=(24,), horizon=48, steps_per_day=24.0)
    ahead = 50 + 10 * np.cos(2 * np.pi * ((len(t) + np.arange(48)) % 24 - 14) / 24)
    assert np.max(np.abs(MstlEts().fit(y, ctx).predict(48) - ahead)) < 3
    assert np.max(np.abs(decompose(y, 24).sum(axis=0)[-24:] - truth[-24:])) < 4
