"""Engineered features: the Bruggeman exponent α, the curvature ratio β, and safe user formulas.

User formulas are ``"name = expression"`` over the table's columns, e.g.
``"alpha = -log(tortuosity)/log(relative_density)"``.  They are parsed with :mod:`ast` and
evaluated by walking the tree: only numbers, column names, ``+ - * / **``, unary minus,
parentheses and the functions ``log, log10, exp, sqrt, abs`` are allowed; anything else
(attributes, other calls, subscripts, lambdas, strings, unknown names) is refused with a
one-line :class:`~semlab.errors.ParameterError` naming the formula.  Nothing is ever passed
to :func:`eval`.

>>> import pandas as pd
>>> from semlab.relate import apply_formulas
>>> t = pd.DataFrame({"tortuosity": [1.5, 2.0], "relative_density": [0.8, 0.6]})
>>> apply_formulas(t, ["alpha = -log(tortuosity)/log(relative_density)"])["alpha"].round(3).tolist()
[1.817, 1.357]
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from semlab.errors import ParameterError
from semlab.relate._common import as_frame, check_columns, check_numeric, name_list

__all__ = ["FUNCTIONS", "Formula", "add_alpha", "add_beta", "apply_formulas", "parse_formula"]

#: Functions a formula may call (natural log, base-10 log, exp, square root, absolute value).
FUNCTIONS = {"log": np.log, "log10": np.log10, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}
_ALLOWED = "use numbers, column names, + - * / **, parentheses and log, log10, exp, sqrt, abs"


@dataclass(frozen=True)
class Formula:
    """A parsed, checked formula ``name = expression``.

    Attributes
    ----------
    name : str
        The new column.
    expression : str
        The right-hand side as written.
    columns : tuple of str
        Columns the expression reads, in order of first use.
    """

    name: str
    expression: str
    columns: tuple[str, ...]

    @property
    def text(self) -> str:
        """``"name = expression"``."""
        return f"{self.name} = {self.expression}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expression": self.expression, "columns": list(self.columns)}

    def evaluate(self, table: Any) -> np.ndarray:
        """The formula's values (n,) over the rows of ``table`` (a DataFrame).

        Raises ParameterError when a column it reads is missing or not numeric.  Undefined
        values (log of a negative number, division by zero) come out as NaN or ±inf.
        """
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise ParameterError(
                f"formula {self.text!r}: unknown column {name_list(missing)}; "
                f"columns are {name_list(list(map(str, table.columns)), 15)}"
            )
        import pandas as pd

        bad = [c for c in self.columns if not pd.api.types.is_numeric_dtype(table[c])]
        if bad:
            raise ParameterError(f"formula {self.text!r}: column {name_list(bad)} is not numeric")
        tree = ast.parse(self.expression, mode="eval")
        env = {c: table[c].to_numpy(dtype=float) for c in self.columns}
        with np.errstate(all="ignore"):
            out = _eval(tree.body, env)
        return np.broadcast_to(np.asarray(out, dtype=float), (len(table),)).copy()


def _check(node: ast.AST, text: str, used: list[str]) -> None:
    """Refuse anything but arithmetic over names, numbers and whitelisted calls."""

    def fail(what: str) -> NoReturn:
        raise ParameterError(f"formula {text!r}: {what} is not allowed; {_ALLOWED}")

    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            fail(f"the constant {node.value!r}")
    elif isinstance(node, ast.Name):
        if node.id not in used:
            used.append(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            fail(f"the operator {type(node.op).__name__}")
        _check(node.left, text, used)
        _check(node.right, text, used)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            fail(f"the operator {type(node.op).__name__}")
        _check(node.operand, text, used)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            fail("calling " + ("an attribute" if isinstance(node.func, ast.Attribute) else "an expression"))
        if node.func.id not in FUNCTIONS:
            fail(f"calling {node.func.id}()")
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise ParameterError(f"formula {text!r}: {node.func.id}() takes exactly one argument")
        _check(node.args[0], text, used)
    else:
        kinds = {
            ast.Attribute: "an attribute (.)",
            ast.Subscript: "indexing ([])",
            ast.Lambda: "lambda",
            ast.Compare: "a comparison",
            ast.BoolOp: "and/or",
            ast.IfExp: "if/else",
            ast.JoinedStr: "a string",
        }
        fail(kinds.get(type(node), f"{type(node).__name__}"))


def _eval(node: ast.AST, env: dict[str, np.ndarray]) -> Any:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # checked by _check
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, env))
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # checked by _check
        return FUNCTIONS[node.func.id](_eval(node.args[0], env))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # pragma: no cover


def parse_formula(text: str | Formula, columns: Sequence[str] | None = None) -> Formula:
    """Parse and check ``"name = expression"``.

    Parameters
    ----------
    text : str or Formula
        E.g. ``"alpha = -log(tortuosity)/log(relative_density)"``.
    columns : sequence of str, optional
        The table's columns; when given, names that are not columns are refused here.

    Returns
    -------
    Formula

    Raises
    ------
    ParameterError
        One line naming the formula: not ``name = expression``, a syntax error, anything
        but arithmetic over columns, or (with ``columns``) an unknown column.
    """
    if isinstance(text, Formula):
        formula = text
    else:
        if not isinstance(text, str):
            raise ParameterError(f"formula {text!r} must be a string 'name = expression'")
        src = text.strip()
        if "=" not in src:
            raise ParameterError(f"formula {src!r} has no '='; write it as 'name = expression'")
        name, expr = (s.strip() for s in src.split("=", 1))
        if not name.isidentifier() or name in FUNCTIONS:
            raise ParameterError(
                f"formula {src!r}: the new column name {name!r} must be a plain name (letters, digits, _) "
                "other than a function name"
            )
        if not expr:
            raise ParameterError(f"formula {src!r} has nothing after '='; write it as 'name = expression'")
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError as exc:
            raise ParameterError(f"formula {src!r}: not a valid expression ({exc.msg}); {_ALLOWED}") from None
        used: list[str] = []
        _check(tree.body, src, used)
        if name in used:
            raise ParameterError(
                f"formula {src!r} reads the column {name!r} it writes; give the new column another name"
            )
        formula = Formula(name=name, expression=expr, columns=tuple(used))
    if columns is not None:
        missing = [c for c in formula.columns if c not in columns]
        if missing:
            raise ParameterError(
                f"formula {formula.text!r}: unknown column {name_list(missing)}; "
                f"columns are {name_list(list(map(str, columns)), 15)}"
            )
    return formula


def apply_formulas(table: Any, formulas: Sequence[str | Formula]):
    """A copy of ``table`` with one new column per formula, evaluated in order.

    Later formulas may use the columns earlier ones made.  An existing column of the same
    name is replaced.

    Parameters
    ----------
    table : DataFrame or path
    formulas : sequence of str or Formula
        ``"name = expression"`` each.

    Returns
    -------
    DataFrame
    """
    df = as_frame(table)
    for f in formulas:
        formula = parse_formula(f, list(df.columns))
        df[formula.name] = formula.evaluate(df)
    return df


def add_alpha(
    table: Any,
    *,
    tortuosity: str = "tortuosity",
    density: str = "relative_density",
    name: str = "alpha",
):
    """Add the Bruggeman exponent ``α = −ln τ / ln D`` (from ``τ = D^−α``).

    Parameters
    ----------
    table : DataFrame or path
    tortuosity : str, default "tortuosity"
        Column of the tortuosity τ (≥ 1, dimensionless; e.g. ``describe_3d(...).tortuosity``).
    density : str, default "relative_density"
        Column of the relative density D of the conducting phase (0 < D < 1, dimensionless).
    name : str, default "alpha"
        The new column (dimensionless).  Rows with D = 1 or τ ≤ 0 get ±inf/NaN.

    Returns
    -------
    DataFrame
        A copy of ``table`` with the new column.
    """
    df = as_frame(table)
    check_columns(df, [tortuosity, density], role="alpha input")
    check_numeric(df, [tortuosity, density])
    with np.errstate(all="ignore"):
        df[name] = -np.log(df[tortuosity].to_numpy(float)) / np.log(df[density].to_numpy(float))
    return df


def add_beta(
    table: Any,
    *,
    mean_curvature: str = "mean_curvature_per_um",
    gaussian_curvature: str = "gaussian_curvature_per_um2",
    fraction: str = "phase_fraction",
    name: str = "beta_um",
):
    """Add the curvature ratio ``β = M / (|G| · φ)``.

    Parameters
    ----------
    table : DataFrame or path
    mean_curvature : str, default "mean_curvature_per_um"
        Column of the area-weighted mean curvature M, µm⁻¹ (``describe_3d(...).to_dict()``).
    gaussian_curvature : str, default "gaussian_curvature_per_um2"
        Column of the area-weighted Gaussian curvature G, µm⁻².
    fraction : str, default "phase_fraction"
        Column of the volume fraction φ of the described phase (dimensionless).
    name : str, default "beta_um"
        The new column, in µm (µm⁻¹ / (µm⁻² · 1)).  Rows with G = 0 or φ = 0 get ±inf/NaN.

    Returns
    -------
    DataFrame
        A copy of ``table`` with the new column.
    """
    df = as_frame(table)
    cols = [mean_curvature, gaussian_curvature, fraction]
    check_columns(df, cols, role="beta input")
    check_numeric(df, cols)
    m, g, phi = (df[c].to_numpy(float) for c in cols)
    with np.errstate(all="ignore"):
        df[name] = m / (np.abs(g) * phi)
    return df
