import subprocess
import sys

import capplan


def test_public_names_resolve():
    for name in capplan.__all__:
        assert getattr(capplan, name) is not None


def test_import_capplan_stays_light():
    """The exec hook imports capplan; pandas, Keras and the influxdb client must not come with it."""
    heavy = "('pandas', 'keras', 'influxdb', 'jax')"
    code = f"import sys, capplan; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_command_line_loads_the_forecasting_stack_only_to_fit():
    """`capplan --help`, `alerts list` and `status` should not wait seconds for scipy and statsmodels."""
    heavy = "('scipy.signal', 'statsmodels', 'keras', 'jax', 'capplan.engine')"
    code = f"import sys, capplan.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_forecast_stays_the_function_after_the_engine_is_imported():
    code = (
        "import types, capplan, capplan.engine; capplan.fit; import capplan.api;"
        "print(isinstance(capplan.forecast, types.FunctionType), isinstance(capplan.fit, types.FunctionType))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]


def test_numpy_integer_horizon_is_steps():
    import numpy as np
    import pandas as pd

    index = pd.date_range("2024-01-01", periods=24 * 14, freq="1h", tz="UTC")
    values = (
        10
        + np.sin(2 * np.pi * np.arange(len(index)) / 24)
        + np.random.default_rng(1).normal(0, 0.1, len(index))
    )
    result = capplan.forecast(pd.Series(values, index=index), horizon=np.int64(24))
    assert len(result.frame) == 24
