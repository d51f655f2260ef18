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
