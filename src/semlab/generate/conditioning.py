"""Conditions of a generator: which table columns steer it and how they are encoded.

A :class:`ConditionSpec` holds one :class:`Condition` per column:

* ``"categorical"`` — every distinct value is a level (a learned 20-d embedding);
* ``"binned"`` — a continuous column cut into quantile bins (``low``/``mid``/``high``
  for three bins, ``q1`` … ``qk`` otherwise), each bin a level;
* ``"continuous"`` — the value itself, standardised with the training mean and standard
  deviation (a learned linear embedding).

The spec is fitted on the training table, saved in the model's ``config.json`` (as
:meth:`ConditionSpec.to_dict`) and rebuilt with :meth:`ConditionSpec.from_dict`.
Importing this module imports NumPy only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab.errors import ParameterError, TableError

__all__ = ["CONDITION_KINDS", "Condition", "ConditionSpec", "fit_conditions", "parse_condition_args"]

#: Encodings a condition column may have.
CONDITION_KINDS = ("categorical", "binned", "continuous")

#: Numeric columns with at most this many distinct values are categorical under ``kind="auto"``.
AUTO_MAX_LEVELS = 8


def _level_text(value: Any) -> str:
    """The canonical text of a categorical value: ``8``, ``8.0`` and ``"8"`` all give ``"8"``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        return str(int(v)) if math.isfinite(v) and v.is_integer() else repr(v)
    text = str(value).strip()
    try:
        v = float(text)
    except ValueError:
        return text
    return str(int(v)) if math.isfinite(v) and v.is_integer() else text


def _bin_names(k: int) -> tuple[str, ...]:
    return (
        ("low", "mid", "high")
        if k == 3
        else ("low", "high")
        if k == 2
        else tuple(f"q{i + 1}" for i in range(k))
    )


@dataclass(frozen=True)
class Condition:
    """One conditioning column.

    Attributes
    ----------
    column : str
        Column of the descriptor table.
    kind : {"categorical", "binned", "continuous"}
    levels : tuple of str
        Level names (categorical values as text, or bin names); empty for continuous.
    edges : tuple of float
        Inner bin edges in the column's units (binned only): value ``v`` is in bin
        ``searchsorted(edges, v, side="right")``.
    mean, std : float
        Standardisation of a continuous column (column units).
    """

    column: str
    kind: str
    levels: tuple[str, ...] = ()
    edges: tuple[float, ...] = ()
    mean: float = 0.0
    std: float = 1.0

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def encode_value(self, value: Any) -> int | float:
        """Level index (categorical/binned) or standardised value (continuous) of one value.

        Binned columns accept a level name (``"high"``) or a number in column units.
        """
        if self.kind == "continuous":
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"condition {self.column}={value!r} is not a number; give a value in the column's units"
                ) from None
            if not math.isfinite(v):
                raise ParameterError(f"condition {self.column}={value!r} must be finite")
            return (v - self.mean) / self.std
        text = _level_text(value)
        if text in self.levels:
            return self.levels.index(text)
        if self.kind == "binned":
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = math.nan
            if math.isfinite(v):
                return int(np.searchsorted(np.asarray(self.edges), v, side="right"))
        raise ParameterError(
            f"condition {self.column}={value!r} is not a level the model was trained on; "
            f"choose one of {', '.join(self.levels)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "levels": list(self.levels),
            "edges": [float(e) for e in self.edges],
            "mean": float(self.mean),
            "std": float(self.std),
        }


@dataclass(frozen=True)
class ConditionSpec:
    """The conditions of a generator, in order; saved with the model.

    Attributes
    ----------
    conditions : tuple of Condition
    """

    conditions: tuple[Condition, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.conditions)

    @property
    def categorical(self) -> tuple[Condition, ...]:
        """Conditions with levels (categorical and binned), in order: the embedding tables."""
        return tuple(c for c in self.conditions if c.kind != "continuous")

    @property
    def continuous(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.kind == "continuous")

    @property
    def n_levels(self) -> tuple[int, ...]:
        """Level counts of the categorical/binned conditions (embedding table sizes)."""
        return tuple(c.n_levels for c in self.categorical)

    def to_dict(self) -> dict[str, Any]:
        return {"conditions": [c.to_dict() for c in self.conditions]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConditionSpec:
        """Rebuild a spec from :meth:`to_dict` output (e.g. read from ``config.json``)."""
        try:
            items = [
                Condition(
                    column=str(d["column"]),
                    kind=str(d["kind"]),
                    levels=tuple(str(v) for v in d.get("levels", ())),
                    edges=tuple(float(v) for v in d.get("edges", ())),
                    mean=float(d.get("mean", 0.0)),
                    std=float(d.get("std", 1.0)),
                )
                for d in data["conditions"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"condition mapping is damaged ({exc}); train the model again") from None
        return cls(tuple(items))

    def encode_table(self, table: Any) -> tuple[np.ndarray, np.ndarray]:
        """Encode the condition columns of a table.

        Parameters
        ----------
        table : pandas.DataFrame
            Has every condition column.

        Returns
        -------
        levels : (n, n_categorical) ndarray of int64
            Level index of each categorical/binned condition.
        values : (n, n_continuous) ndarray of float32
            Standardised continuous conditions.
        """
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise TableError(f"the table lacks condition column(s) {', '.join(missing)}")
        n = len(table)
        levels = np.zeros((n, len(self.categorical)), dtype=np.int64)
        values = np.zeros((n, len(self.continuous)), dtype=np.float32)
        for j, c in enumerate(self.categorical):
            levels[:, j] = [c.encode_value(v) for v in table[c.column]]
        for j, c in enumerate(self.continuous):
            values[:, j] = [c.encode_value(v) for v in table[c.column]]
        return levels, values

    def encode(self, condition: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Encode one condition setting, e.g. ``{"burst_count": 8}`` or ``{"porosity": "high"}``.

        Returns
        -------
        levels : (n_categorical,) ndarray of int64
        values : (n_continuous,) ndarray of float32

        Raises
        ------
        ParameterError
            A column the model does not know, a missing column, or a value that is not a level.
        """
        unknown = [k for k in condition if k not in self.columns]
        if unknown:
            raise ParameterError(
                f"the model has no condition {', '.join(map(str, unknown))}; its conditions are "
                f"{', '.join(self.columns)}"
            )
        missing = [c for c in self.columns if c not in condition]
        if missing:
            raise ParameterError(f"give a value for condition {', '.join(missing)} (e.g. {self.example()})")
        levels = np.array([c.encode_value(condition[c.column]) for c in self.categorical], dtype=np.int64)
        values = np.array([c.encode_value(condition[c.column]) for c in self.continuous], dtype=np.float32)
        return levels, values

    def example(self) -> str:
        """A valid setting as ``col=value`` text, for messages."""
        parts = []
        for c in self.conditions:
            parts.append(f"{c.column}={c.levels[-1] if c.levels else round(c.mean, 4)}")
        return " ".join(parts)

    def level_grid(self) -> list[dict[str, Any]]:
        """Every combination of the categorical/binned levels (continuous columns at their mean)."""
        import itertools

        combos = itertools.product(*[c.levels for c in self.categorical]) if self.categorical else [()]
        out = []
        for combo in combos:
            d: dict[str, Any] = {}
            it = iter(combo)
            for c in self.conditions:
                d[c.column] = next(it) if c.kind != "continuous" else c.mean
            out.append(d)
        return out

    def label(self, table: Any) -> list[str]:
        """A text label of each row's condition (``burst_count=8 porosity=high``); continuous
        columns are shown binned into thirds of the training distribution for grouping."""
        parts = []
        for c in self.conditions:
            if c.kind == "continuous":
                v = np.asarray(table[c.column], dtype=float)
                parts.append([f"{c.column}={x:.4g}" for x in v])
            else:
                parts.append([f"{c.column}={c.levels[int(c.encode_value(x))]}" for x in table[c.column]])
        return [" ".join(p) for p in zip(*parts, strict=True)] if parts else [""] * len(table)


def fit_conditions(
    table: Any,
    columns: Sequence[str] | str,
    *,
    kinds: Mapping[str, str] | None = None,
    bins: int = 3,
) -> ConditionSpec:
    """Fit the condition encoding of ``columns`` on a training table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per training image (or patch).
    columns : str or sequence of str
        Condition columns, e.g. ``["temper", "feed_rate"]``; a string is split at commas.
    kinds : mapping column → kind, optional
        ``"categorical"``, ``"binned"``, ``"continuous"`` or ``"auto"`` (default): text
        columns and numeric columns with at most 8 distinct values are categorical, other
        numeric columns are binned.
    bins : int, default 3
        Quantile bins of binned columns (3 → low/mid/high).

    Returns
    -------
    ConditionSpec

    Raises
    ------
    TableError
        A column is missing, has missing values, or has a single value (nothing to condition on).
    ParameterError
        Bad ``kinds`` or ``bins``.
    """
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    columns = list(columns)
    if not columns:
        raise ParameterError("give at least one condition column (e.g. --condition burst_count)")
    if len(set(columns)) != len(columns):
        raise ParameterError(f"condition columns {columns} repeat a column; name each once")
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
        raise ParameterError(f"bins={bins!r} must be an integer >= 2")
    kinds = dict(kinds or {})
    for k, v in kinds.items():
        if v not in (*CONDITION_KINDS, "auto"):
            raise ParameterError(
                f"condition kind {k}={v!r} must be one of {', '.join(CONDITION_KINDS)} or auto"
            )
    out = []
    for col in columns:
        if col not in table.columns:
            raise TableError(
                f"the table has no column {col!r} to condition on; its columns are {', '.join(map(str, table.columns))}"
            )
        s = table[col]
        if s.isna().any():
            row = int(np.flatnonzero(s.isna().to_numpy())[0])
            raise TableError(
                f"condition column {col!r} is empty at row {row}; fill it or leave those images out"
            )
        numeric = is_numeric_dtype(s.dtype) and not is_bool_dtype(s.dtype)
        distinct = s.map(_level_text).unique() if not numeric else np.unique(s.to_numpy(dtype=float))
        if len(distinct) < 2:
            raise TableError(
                f"condition column {col!r} has a single value ({distinct[0] if len(distinct) else 'none'}); "
                "a generator cannot learn a condition that never changes — drop it or add other levels"
            )
        kind = kinds.get(col, "auto")
        if kind == "auto":
            kind = "categorical" if (not numeric or len(distinct) <= AUTO_MAX_LEVELS) else "binned"
        if kind != "categorical" and not numeric:
            raise TableError(
                f"condition column {col!r} is not numeric, so it cannot be {kind}; use categorical"
            )
        if kind == "categorical":
            vals = sorted(distinct) if numeric else sorted(distinct, key=str)
            out.append(Condition(col, "categorical", levels=tuple(_level_text(v) for v in vals)))
        elif kind == "binned":
            v = s.to_numpy(dtype=float)
            edges = np.unique(np.quantile(v, np.arange(1, bins) / bins))
            k = len(edges) + 1
            counts = np.bincount(np.searchsorted(edges, v, side="right"), minlength=k)
            if k < bins or (counts == 0).any():
                raise TableError(
                    f"condition column {col!r} has too few distinct values ({len(distinct)}) for {bins} quantile bins; "
                    "use fewer bins or make it categorical"
                )
            out.append(Condition(col, "binned", levels=_bin_names(k), edges=tuple(float(e) for e in edges)))
        else:
            v = s.to_numpy(dtype=float)
            out.append(Condition(col, "continuous", mean=float(v.mean()), std=float(v.std()) or 1.0))
    return ConditionSpec(tuple(out))


def parse_condition_args(items: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Parse CLI ``--condition`` values for training: ``burst_count,porosity:binned``.

    Returns
    -------
    columns : list of str
    kinds : dict column → kind (only for columns given a ``:kind`` suffix)
    """
    columns: list[str] = []
    kinds: dict[str, str] = {}
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            col, _, kind = part.partition(":")
            col = col.strip()
            columns.append(col)
            if kind:
                kind = {"cat": "categorical", "bin": "binned", "cont": "continuous"}.get(
                    kind.strip(), kind.strip()
                )
                kinds[col] = kind
    return columns, kinds


def parse_condition_values(items: Sequence[str]) -> dict[str, str]:
    """Parse CLI ``--condition`` values for sampling: ``burst_count=high`` (several, or comma-joined)."""
    out: dict[str, str] = {}
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            col, eq, value = part.partition("=")
            if not eq or not col.strip() or not value.strip():
                raise ParameterError(
                    f"--condition {part!r} must look like column=value (e.g. burst_count=high)"
                )
            out[col.strip()] = value.strip()
    return out
