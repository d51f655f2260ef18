import logging

import pytest

from capplan import logs


@pytest.fixture(autouse=True)
def _restore_logging():
    root, ours = logging.getLogger(), logging.getLogger("capplan")
    saved = root.level, list(root.handlers), ours.level
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    ours.setLevel(saved[2])


def test_libraries_info_is_hidden_at_capplans_default_level():
    logs.configure("INFO", [logging.NullHandler()])
    assert logging.getLogger("capplan.engine").isEnabledFor(logging.INFO)
    assert not logging.getLogger("jax._src.xla_bridge").isEnabledFor(logging.INFO)
    assert logging.getLogger("jax._src.xla_bridge").isEnabledFor(logging.WARNING)


def test_verbose_shows_libraries_debug():
    logs.configure(logging.DEBUG, [logging.NullHandler()], libraries=logging.DEBUG)
    assert logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.DEBUG)


def test_a_stricter_level_applies_to_libraries_too():
    logs.configure("ERROR", [logging.NullHandler()])
    assert not logging.getLogger("capplan.hook").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("jax").isEnabledFor(logging.WARNING)
