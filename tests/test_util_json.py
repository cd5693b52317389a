"""semlab's one JSON rule: strict JSON, NaN → null, NumPy → Python, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from semlab._util import to_jsonable, write_json


@dataclasses.dataclass(frozen=True)
class _Result:
    score: float
    path: Path


def test_nan_and_numpy_become_strict_json(tmp_path):
    value = {
        1: np.float32(0.5),
        "nan": float("nan"),
        "inf": np.float64(np.inf),
        "arr": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "nan_arr": np.array([1.0, np.nan]),
        "tuple": (np.int16(3), "a"),
        "result": _Result(math.nan, Path("/x")),
        "bytes": b"\xb5m",
    }
    out = to_jsonable(value)
    assert out == {
        "1": 0.5,
        "nan": None,
        "inf": None,
        "arr": [[1, 2], [3, 4]],
        "nan_arr": [1.0, None],
        "tuple": [3, "a"],
        "result": {"score": None, "path": "/x"},
        "bytes": "µm",
    }
    write_json(tmp_path / "a.json", value)
    assert json.loads((tmp_path / "a.json").read_text()) == out
    assert "NaN" not in (tmp_path / "a.json").read_text()
