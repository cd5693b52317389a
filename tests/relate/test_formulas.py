"""Engineered features and safe formulas: arithmetic over columns only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semlab.errors import ParameterError, TableError
from semlab.relate import add_alpha, add_beta, apply_formulas, fit_relation, parse_formula


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"tortuosity": [1.2, 1.5, 2.0], "density": [0.9, 0.7, 0.5], "a": [1.0, 2.0, 4.0]})


def test_alpha_formula_matches_bruggeman(table):
    out = apply_formulas(table, ["alpha = -log(tortuosity)/log(density)"])
    np.testing.assert_allclose(out["alpha"], -np.log(table["tortuosity"]) / np.log(table["density"]))
    # τ = D^−α holds for the computed α
    np.testing.assert_allclose(table["density"] ** -out["alpha"], table["tortuosity"])
    same = add_alpha(table, tortuosity="tortuosity", density="density")
    np.testing.assert_allclose(same["alpha"], out["alpha"])
    assert "alpha" not in table.columns  # inputs are not modified


def test_beta_is_mean_over_abs_gaussian_curvature_times_fraction():
    t = pd.DataFrame({"M": [2.0, -1.0], "G": [-4.0, 0.5], "phi": [0.5, 0.25]})
    out = add_beta(t, mean_curvature="M", gaussian_curvature="G", fraction="phi", name="beta_um")
    np.testing.assert_allclose(out["beta_um"], [2.0 / (4.0 * 0.5), -1.0 / (0.5 * 0.25)])
    with pytest.raises(TableError, match="no beta input column mean_curvature_per_um"):
        add_beta(t)


def test_arithmetic_functions_and_chained_formulas(table):
    out = apply_formulas(
        table, ["b = 2 ** a + sqrt(a) - abs(-a) * exp(0) / 1.0", "c = log10(b * 10)", "d = -(+a)"]
    )
    a = table["a"].to_numpy()
    b = 2**a + np.sqrt(a) - np.abs(-a) * np.exp(0) / 1.0
    np.testing.assert_allclose(out["b"], b)
    np.testing.assert_allclose(out["c"], np.log10(b * 10))
    np.testing.assert_allclose(out["d"], -a)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = __import__('os')", r"calling __import__\(\) is not allowed"),
        ("x = a.__class__", r"an attribute \(\.\) is not allowed"),
        ("x = open('f')", r"calling open\(\) is not allowed"),
        ("x = a[0]", r"indexing \(\[\]\) is not allowed"),
        ("x = (lambda: 1)()", "calling an expression is not allowed"),
        ("x = lambda: 1", "lambda is not allowed"),
        ("x = 'text'", "the constant 'text' is not allowed"),
        ("x = a if a else 1", "if/else is not allowed"),
        ("x = a > 1", "a comparison is not allowed"),
        ("x = a // 2", "the operator FloorDiv is not allowed"),
        ("x = log(a, 2)", r"log\(\) takes exactly one argument"),
        ("x = a.real.__class__.__subclasses__()", "an attribute"),
        ("x = True", "the constant True"),
        ("x = [a]", "List is not allowed"),
        ("x = ", "nothing after '='"),
        ("a + 1", "has no '='"),
        ("1x = a", "must be a plain name"),
        ("x = a +", "not a valid expression"),
        ("a = a * 2", "reads the column 'a' it writes"),
    ],
)
def test_unsafe_or_invalid_formulas_are_rejected_in_one_line(table, text, message):
    with pytest.raises(ParameterError, match=message) as err:
        apply_formulas(table, [text])
    assert "\n" not in str(err.value)
    assert f"formula {text.strip()!r}" in str(err.value)


def test_unknown_column_is_named(table):
    with pytest.raises(
        ParameterError, match=r"formula 'x = log\(porosity\)': unknown column porosity; columns are"
    ):
        apply_formulas(table, ["x = log(porosity)"])
    with pytest.raises(ParameterError, match="unknown column nope"):
        parse_formula("x = nope + 1", ["a"])
    # a function name used as a bare name is not a column either
    with pytest.raises(ParameterError, match="unknown column log"):
        apply_formulas(table, ["x = log + 1"])


def test_undefined_values_become_nan_and_are_reported_by_the_fit():
    t = pd.DataFrame({"a": [1.0, 2.0, -1.0, 3.0, 4.0], "y": [1.0, 2.0, 3.0, 4.0, 5.5]})
    out = apply_formulas(t, ["la = log(a)"])
    assert np.isnan(out["la"].iloc[2])
    with pytest.raises(TableError, match=r"row 2 \(column la\)"):
        fit_relation(t, "y", ["la"], formulas=["la = log(a)"])


def test_formula_features_are_fitted_and_recorded():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.5, 0.95, 12)
    tau = d ** -rng.uniform(1.2, 2.0, 12)
    t = pd.DataFrame({"tortuosity": tau, "relative_density": d})
    alpha = -np.log(tau) / np.log(d)
    t["k"] = 3.0 + 2.0 * alpha
    r = fit_relation(t, "k", ["alpha"], formulas=["alpha = -log(tortuosity)/log(relative_density)"])
    assert r.coefficients["alpha"] == pytest.approx(2.0)
    assert [f.text for f in r.formulas] == ["alpha = -log(tortuosity)/log(relative_density)"]
    assert r.model.inputs == ("alpha",)
