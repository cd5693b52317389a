"""Condition mapping: kinds, binning, encoding, JSON round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from semlab.errors import ParameterError, TableError
from semlab.generate import ConditionSpec, fit_conditions, parse_condition_args, parse_condition_values


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 90
    return pd.DataFrame(
        {
            "temper": np.where(np.arange(n) % 2, "T6", "T5"),
            "burst_count": np.tile([1, 2, 4, 8, 1, 2, 4, 8, 1], 10),
            "feed_rate": rng.uniform(10, 40, n),
            "porosity": rng.uniform(0.1, 0.4, n),
        }
    )


def test_auto_kinds_and_levels(table):
    spec = fit_conditions(table, "temper,burst_count,feed_rate")
    kinds = {c.column: c.kind for c in spec.conditions}
    assert kinds == {"temper": "categorical", "burst_count": "categorical", "feed_rate": "binned"}
    assert spec.conditions[1].levels == ("1", "2", "4", "8")  # numeric order, not text order
    assert spec.conditions[2].levels == ("low", "mid", "high")
    assert spec.n_levels == (2, 4, 3)


def test_quantile_bins_split_evenly(table):
    spec = fit_conditions(table, ["feed_rate"])
    levels, _ = spec.encode_table(table)
    counts = np.bincount(levels[:, 0], minlength=3)
    assert counts.tolist() == [30, 30, 30]  # thirds of 90 distinct values
    c = spec.conditions[0]
    assert c.encode_value("high") == 2 and c.encode_value(table["feed_rate"].max()) == 2
    assert c.encode_value(table["feed_rate"].min()) == 0
    five = fit_conditions(table, ["feed_rate"], bins=5).conditions[0]
    assert five.levels == ("q1", "q2", "q3", "q4", "q5")


def test_continuous_is_standardised(table):
    spec = fit_conditions(table, ["porosity"], kinds={"porosity": "continuous"})
    _, values = spec.encode_table(table)
    assert values.shape == (90, 1)
    assert abs(values.mean()) < 1e-5 and abs(values.std() - 1) < 1e-4
    assert spec.n_levels == () and len(spec.continuous) == 1


def test_round_trip_through_json(table):
    spec = fit_conditions(table, ["temper", "feed_rate", "porosity"], kinds={"porosity": "continuous"})
    back = ConditionSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    a = spec.encode({"temper": "T6", "feed_rate": "mid", "porosity": 0.2})
    b = back.encode({"temper": "T6", "feed_rate": "mid", "porosity": 0.2})
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    assert a[0].tolist() == [1, 1]


def test_numeric_levels_accept_text_and_numbers(table):
    spec = fit_conditions(table, ["burst_count"])
    assert spec.encode({"burst_count": "8"})[0].tolist() == [3]
    assert spec.encode({"burst_count": 8.0})[0].tolist() == [3]


def test_unknown_value_and_columns_are_one_line_errors(table):
    spec = fit_conditions(table, ["temper", "burst_count"])
    with pytest.raises(ParameterError, match=r"burst_count=3.*choose one of 1, 2, 4, 8") as e:
        spec.encode({"temper": "T5", "burst_count": 3})
    assert "\n" not in str(e.value)
    with pytest.raises(ParameterError, match="no condition speed"):
        spec.encode({"temper": "T5", "burst_count": 1, "speed": 2})
    with pytest.raises(ParameterError, match="give a value for condition burst_count"):
        spec.encode({"temper": "T5"})


def test_single_valued_column_is_refused(table):
    table["constant"] = 3.0
    with pytest.raises(TableError, match="'constant' has a single value") as e:
        fit_conditions(table, ["constant"])
    assert "\n" not in str(e.value)
    with pytest.raises(TableError, match="no column 'nope'"):
        fit_conditions(table, ["nope"])
    with pytest.raises(TableError, match="too few distinct values"):
        fit_conditions(table, ["burst_count"], kinds={"burst_count": "binned"}, bins=5)


def test_parse_cli_values():
    cols, kinds = parse_condition_args(["temper,feed_rate:bin", "porosity:continuous"])
    assert cols == ["temper", "feed_rate", "porosity"]
    assert kinds == {"feed_rate": "binned", "porosity": "continuous"}
    assert parse_condition_values(["temper=T5", "feed_rate=high,x=1"]) == {
        "temper": "T5",
        "feed_rate": "high",
        "x": "1",
    }
    with pytest.raises(ParameterError, match="column=value"):
        parse_condition_values(["temper"])
