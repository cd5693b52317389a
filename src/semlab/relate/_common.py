"""Shared checks for :mod:`semlab.relate`: tables, feature lists, numeric matrices, scores, warnings."""

from __future__ import annotations

import fnmatch
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError, TableError

_MAX_NAMED = 5  # rows/columns named in one message; the rest are counted


class RelateWarning(UserWarning):
    """A structure-property fit is legal but fragile (tiny n, unstable or collinear features)."""


def warn(message: str, stacklevel: int = 3) -> None:
    """Issue a one-line :class:`RelateWarning` pointing at the caller of the public function."""
    warnings.warn(message, RelateWarning, stacklevel=stacklevel)


def name_list(items: Sequence[Any], limit: int = _MAX_NAMED) -> str:
    """``a, b, c`` or ``a, b, c and 4 more``."""
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"


def as_frame(table: Any, what: str = "table"):
    """A copy of ``table`` as a DataFrame; a path is read with :func:`semlab.dataset.read_table`.

    Rows read from a file are indexed by the row number a spreadsheet shows (header = row 1).
    """
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.copy()
    if isinstance(table, (str, os.PathLike)):
        from semlab.dataset import read_table

        return read_table(Path(table))
    if isinstance(table, dict):
        return pd.DataFrame(table)
    raise ParameterError(
        f"{what} must be a DataFrame or a table file (.csv, .xlsx, .parquet), not {type(table).__name__}"
    )


def row_names(index: Any, positions: Iterable[int]) -> str:
    """Rows at ``positions`` named as the user knows them ("rows 3, 5" of a file, else index labels)."""
    labels = [index[i] for i in positions]
    word = "row" if len(labels) == 1 else "rows"
    return f"{word} {name_list(labels)}"


_RANGE = re.compile(r"^(?P<prefix>.*?)(?P<a>\d+)\.\.(?P=prefix)?(?P<b>\d+)$")


def expand_features(spec: str | Sequence[str] | None, columns: Sequence[str]) -> list[str] | None:
    """Feature names from a list or a comma-separated string of names, globs and ranges.

    ``"a,b"`` lists columns; ``"f*"`` matches columns by glob (in table order); ``"f0..f1279"``
    (or ``"f0..1279"``) names ``f0``, ``f1`` … ``f1279``.  Unknown plain names are kept (the
    caller reports them); a glob or range matching nothing raises ParameterError.
    """
    if spec is None:
        return None
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    items = [s for s in items if s]
    out: list[str] = []
    for item in items:
        m = _RANGE.match(item)
        if m:
            a, b = int(m["a"]), int(m["b"])
            if b < a:
                raise ParameterError(
                    f"feature range {item!r} runs backwards; write it as {m['prefix']}{b}..{a}"
                )
            names = [f"{m['prefix']}{k}" for k in range(a, b + 1)]
        elif any(ch in item for ch in "*?["):
            names = [c for c in columns if fnmatch.fnmatchcase(c, item)]
            if not names:
                raise ParameterError(
                    f"feature pattern {item!r} matches no column; columns are {name_list(columns, 12)}"
                )
        else:
            names = [item]
        out.extend(n for n in names if n not in out)
    if not out:
        raise ParameterError("the feature list is empty; name at least one column")
    return out


def check_columns(df, names: Sequence[str], *, role: str, table_name: str = "table") -> None:
    """TableError naming the ``names`` missing from ``df`` and listing the columns it has."""
    missing = [n for n in names if n not in df.columns]
    if missing:
        have = name_list(list(map(str, df.columns)), 15)
        raise TableError(f"{table_name} has no {role} column {name_list(missing)}; its columns are {have}")


def numeric_columns(df, exclude: Iterable[str] = ()) -> list[str]:
    """Names of the numeric (not boolean) columns of ``df``, in table order, minus ``exclude``."""
    import pandas as pd

    skip = set(exclude)
    return [
        c
        for c in df.columns
        if c not in skip and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]


def check_numeric(df, names: Sequence[str], *, table_name: str = "table") -> None:
    """TableError naming the columns among ``names`` that hold text (or other non-numbers)."""
    import pandas as pd

    bad = [n for n in names if not pd.api.types.is_numeric_dtype(df[n]) or pd.api.types.is_bool_dtype(df[n])]
    if bad:
        examples = []
        for n in bad[:3]:
            s = df[n]
            text = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
            if len(text):
                examples.append(f"{n} holds {str(text.iloc[0])!r}")
        hint = f" ({'; '.join(examples)})" if examples else ""
        raise TableError(
            f"{table_name}: column {name_list(bad)} is not numeric{hint}; "
            "put numbers in the cells (units in the column name) or leave the column out"
        )


def finite_mask(df, names: Sequence[str], *, table_name: str = "table", dropna: bool = False):
    """Rows of ``df`` whose ``names`` are all finite.

    Without ``dropna``, any missing or infinite value raises TableError naming its rows and
    columns; with it, those rows are dropped and a warning says which.
    """
    values = df[list(names)].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return np.ones(len(df), bool)
    rows = np.flatnonzero(bad.any(axis=1))
    cols = [names[int(j)] for j in np.flatnonzero(bad.any(axis=0))]
    where = f"{row_names(df.index, rows)} (column {name_list(cols)})"
    if not dropna:
        raise TableError(
            f"{table_name}: missing or non-finite values in {where}; fill them in, or drop those rows "
            "(dropna=True, --dropna)"
        )
    warn(f"dropped {len(rows)} of {len(df)} rows with missing or non-finite values: {where}", stacklevel=4)
    return ~bad.any(axis=1)


def constant_columns(values: np.ndarray, names: Sequence[str]) -> list[str]:
    """Names of the columns of ``values`` (n, p) whose values are all equal (to 1e-12 relative)."""
    out = []
    for j, n in enumerate(names):
        col = values[:, j]
        if col.size == 0 or np.ptp(col) <= 1e-12 * max(1.0, float(np.max(np.abs(col)))):
            out.append(n)
    return out


@dataclass(frozen=True)
class Scores:
    """Agreement of predictions with measurements.

    Attributes
    ----------
    r2 : float
        Coefficient of determination ``1 − SS_res/SS_tot`` (NaN with fewer than two rows or a
        constant target).  For cross-validated predictions this is Q², the LOOCV R².
    rmse : float
        Root-mean-square error, in the target's unit.
    mae : float
        Mean absolute error, in the target's unit.
    n : int
        Rows scored.
    """

    r2: float
    rmse: float
    mae: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scores(y: np.ndarray, pred: np.ndarray) -> Scores:
    """:class:`Scores` of predictions ``pred`` (n,) against measurements ``y`` (n,)."""
    y = np.asarray(y, float)
    pred = np.asarray(pred, float)
    n = int(y.size)
    if n == 0:
        return Scores(float("nan"), float("nan"), float("nan"), 0)
    res = y - pred
    ss_res = float(np.sum(res**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if n >= 2 and ss_tot > 0 else float("nan")
    return Scores(r2=r2, rmse=float(np.sqrt(ss_res / n)), mae=float(np.mean(np.abs(res))), n=n)


def information_criteria(rss: float, n: int, p: int) -> tuple[float, float, float]:
    """``(aicc, bic, k)`` of a Gaussian linear model with ``p`` features and an intercept.

    ``k = p + 2`` parameters (coefficients, intercept, noise variance); AICc is NaN when
    ``n ≤ k + 1`` (too few rows to penalise).  A perfect fit uses a floor on RSS/n.
    """
    k = p + 2
    sigma2 = max(rss / n, 1e-300)
    ll = n * np.log(sigma2)
    aic = ll + 2 * k
    aicc = aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else float("nan")
    bic = ll + k * np.log(n)
    return float(aicc), float(bic), float(k)


def adjusted_r2(r2: float, n: int, p: int) -> float:
    """Adjusted R² ``1 − (1 − R²)(n − 1)/(n − p − 1)``; NaN when ``n ≤ p + 1``."""
    if n - p - 1 <= 0 or not np.isfinite(r2):
        return float("nan")
    return float(1.0 - (1.0 - r2) * (n - 1) / (n - p - 1))
