"""JSON for other tools: no bare NaN."""

import json
import math

from capplan import jsonio


def test_non_finite_numbers_become_null_at_any_depth():
    text = jsonio.dumps({"scores": {"lstm": math.nan, "mstl": 0.8}, "bounds": [math.inf, 1.0]})
    assert json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c))) == {
        "scores": {"lstm": None, "mstl": 0.8},
        "bounds": [None, 1.0],
    }
