"""Descriptor tables: which image shows which sample, made with which process, with which property.

A descriptor table is a CSV, XLSX or Parquet file with one row per image.  Two columns are
required:

``image``
    The image file, relative to an images folder (by default the table's own folder) or
    absolute.
``sample``
    The sample the image shows.  Several images of one sample share the id; splits are
    grouped by it so that one sample never sits on both sides of an evaluation.

Every other column is a process parameter or a measured property of the sample, either
*numeric* (``anneal_temperature_c``, ``burst_count``, ``hardness_hv``) or *categorical*
(``cooling``, ``operator``).  Put units in the column name, numbers in the cells.

Row numbers in messages count as a spreadsheet shows them: the header is row 1 and the first
data row is row 2 (blank rows and rows above the header are counted too, so the number is the
one Excel or LibreOffice shows).  Parquet files have no header row, but are numbered the same
way (data row *i*, counted from 1, is "row *i* + 1"), so a table exported from a spreadsheet
reports the same row numbers in every format.

>>> from semlab.dataset import Dataset
>>> ds = Dataset.from_table("descriptors.csv")  # doctest: +SKIP
>>> len(ds), ds.samples[:3], ds.numeric_columns  # doctest: +SKIP
(24, ['s01', 's02', 's03'], ('anneal_temperature_c', 'anneal_time_h'))
"""

from __future__ import annotations

import csv
import hashlib
import math
import numbers
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semlab.errors import MissingFileError, ParameterError, TableError

#: File suffixes :func:`read_table` accepts.
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".parquet", ".pq")
#: The columns every descriptor table must have.
REQUIRED_COLUMNS = ("image", "sample")
#: Columns :class:`Dataset` adds or reserves; a table may not use them as descriptors.
RESERVED_COLUMNS = ("image", "sample", "path")

# Cell texts read as "no value" (besides empty and blank cells).
_NA_TOKENS = frozenset({"na", "n/a", "nan", "null", "none", "#n/a", "-", "--"})
_MAX_REPORTED = 3  # problems named in one message; the rest are counted


# ----------------------------------------------------------------------------- cells


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _NA_TOKENS | {""}


def _clean_cell(value: Any) -> Any:
    """A cell as a plain Python value (str, int, float, bool, datetime …) or ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    return value


def _as_number(value: Any) -> float | None:
    """The cell as a finite float, or ``None`` when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        out = float(value)
    elif isinstance(value, str):
        if "_" in value:  # float() accepts "1_000"; a spreadsheet would not
            return None
        try:
            out = float(value)
        except ValueError:
            return None
    else:
        return None
    return out if math.isfinite(out) else None


def _as_text(value: Any) -> str:
    """The cell as text; integral floats lose their ``.0`` (Excel stores 7 as 7.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _number_hint(text: str) -> str:
    """A hint for a cell that looks like a number but is not one."""
    if re.fullmatch(r"[-+]?\d+,\d+", text):
        return f"use a point as the decimal separator ({text.replace(',', '.')})"
    if re.match(r"[-+]?(\d|\.\d)", text):
        return "put the unit in the column name (e.g. 'size_um') and only the number in the cell"
    return ""


def _text_series(values: Sequence[Any], index: pd.Index) -> pd.Series:
    """A text column with missing values as NaN (pandas' ``str`` dtype where it exists)."""
    try:
        return pd.Series(list(values), index=index, dtype="str")
    except TypeError:  # pragma: no cover - very old pandas
        return pd.Series(list(values), index=index, dtype=object)


# ----------------------------------------------------------------------------- reading


def _sniff_delimiter(first_line: str, suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _read_csv_cells(path: Path) -> list[list[Any]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes almost anything
        raise TableError(
            f"{path}: cannot decode the file as UTF-8 or Windows-1252 text; save it as UTF-8 CSV"
        )
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    delimiter = _sniff_delimiter(first, path.suffix.lower())
    try:
        return [list(r) for r in csv.reader(lines, delimiter=delimiter)]
    except csv.Error as exc:
        raise TableError(f"{path}: cannot parse as CSV ({exc}); save it again as plain CSV") from None


def _read_xlsx_cells(path: Path, sheet: int | str) -> list[list[Any]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile / openpyxl raise many types on bad files
        raise TableError(
            f"{path}: cannot read as an Excel workbook ({exc}); is it a complete .xlsx file?"
        ) from None
    try:
        if isinstance(sheet, str):
            if sheet not in wb.sheetnames:
                raise TableError(
                    f"{path}: no sheet named {sheet!r} (sheets: {', '.join(wb.sheetnames)}); check the sheet name"
                )
            ws = wb[sheet]
        else:
            if not -len(wb.worksheets) <= sheet < len(wb.worksheets):
                raise TableError(
                    f"{path}: sheet={sheet} is out of range; the workbook has {len(wb.worksheets)} sheet(s)"
                )
            ws = wb.worksheets[sheet]
        return [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
    finally:
        wb.close()


def _read_parquet_cells(path: Path) -> list[list[Any]]:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types on bad files
        raise TableError(f"{path}: cannot read as Parquet ({exc}); is the file complete?") from None
    header: list[Any] = [str(c) for c in frame.columns]
    body = frame.astype(object).to_numpy().tolist()
    return [header, *body]


def _cells_to_frame(rows: list[list[Any]], name: str) -> pd.DataFrame:
    """Header + body → object DataFrame indexed by spreadsheet row number (header = row 1).

    Rows above the header and blank rows are dropped but keep their numbers; blank header
    cells over empty columns are dropped.
    """
    cleaned = [[_clean_cell(v) for v in r] for r in rows]
    header_at = next((i for i, r in enumerate(cleaned) if any(v is not None for v in r)), None)
    if header_at is None:
        raise TableError(
            f"{name}: the file is empty; write a header row (image, sample, …) and one row per image"
        )
    width = max(len(r) for r in cleaned)
    header = cleaned[header_at] + [None] * (width - len(cleaned[header_at]))
    body = [(i + 1, r + [None] * (width - len(r))) for i, r in enumerate(cleaned) if i > header_at]
    body = [(n, r) for n, r in body if any(v is not None for v in r)]
    header_row = header_at + 1

    keep: list[int] = []
    names: list[str] = []
    for j, h in enumerate(header):
        letter = _column_letter(j)
        if h is None:
            filled = next((n for n, r in body if r[j] is not None), None)
            if filled is not None:
                raise TableError(
                    f"{name} row {header_row}, column {letter}: the header cell is empty but row {filled} "
                    "has a value below it; name the column or delete it"
                )
            continue
        label = _as_text(h)
        if label in names:
            first = _column_letter(keep[names.index(label)])
            raise TableError(
                f"{name} row {header_row}, column {label!r}: the header names {label!r} twice "
                f"(columns {first} and {letter}); rename or delete one of them"
            )
        keep.append(j)
        names.append(label)
    # Required columns match case-insensitively: "Image" and "SAMPLE" are what people write.
    for required in REQUIRED_COLUMNS:
        if required not in names:
            hits = [i for i, n in enumerate(names) if n.lower() == required]
            if len(hits) == 1:
                names[hits[0]] = required
    data = [[r[j] for j in keep] for _, r in body]
    index = pd.Index([n for n, _ in body], name="row", dtype="int64")
    frame = pd.DataFrame(data, columns=names, index=index, dtype=object)
    return frame


def _column_letter(j: int) -> str:
    """Spreadsheet letter of the 0-based column ``j`` (0 → A, 26 → AA)."""
    out = ""
    j += 1
    while j:
        j, rem = divmod(j - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def _read_cells(path: str | os.PathLike, sheet: int | str = 0) -> tuple[pd.DataFrame, str]:
    """The table's cells (object dtype, index = spreadsheet row) and its name for messages."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise MissingFileError(f"{name}: no such file; check the path to the descriptor table")
    if p.is_dir():
        raise TableError(f"{name}: is a folder; give a descriptor table file ({', '.join(TABLE_SUFFIXES)})")
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        rows = _read_csv_cells(p)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx_cells(p, sheet)
    elif suffix in (".parquet", ".pq"):
        rows = _read_parquet_cells(p)
    elif suffix == ".xls":
        raise TableError(f"{name}: old Excel .xls files are not read; save the sheet as .xlsx or .csv")
    else:
        raise TableError(
            f"{name}: unknown table type {suffix or '(no suffix)'!r}; use one of {', '.join(TABLE_SUFFIXES)}"
        )
    return _cells_to_frame(rows, name), name


def _type_column(cells: pd.Series, numeric: bool) -> pd.Series:
    """Cells (already checked) as float/int (numeric) or text."""
    if numeric:
        values = [None if v is None else _as_number(v) for v in cells]
        present = [v for v in values if v is not None]
        if (
            present
            and len(present) == len(values)
            and all(float(v).is_integer() and abs(v) < 2**53 for v in present)
        ):
            return pd.Series([int(v) for v in present], index=cells.index, dtype="int64", name=cells.name)
        return pd.Series(
            [np.nan if v is None else v for v in values], index=cells.index, dtype="float64", name=cells.name
        )
    return _text_series([None if v is None else _as_text(v) for v in cells], cells.index).rename(cells.name)


def read_table(path: str | os.PathLike, *, sheet: int | str = 0) -> pd.DataFrame:
    """Read a descriptor table (CSV, XLSX or Parquet, chosen by suffix) without validating it.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (comma, semicolon or tab separated, UTF-8 or Windows-1252), ``.tsv``,
        ``.xlsx``/``.xlsm`` (first sheet, or ``sheet``) or ``.parquet``/``.pq``.
    sheet : int or str, default 0
        Sheet of a workbook, by position or name.

    Returns
    -------
    DataFrame
        One row per non-blank table row, indexed by the row number a spreadsheet shows
        (index name ``row``; the header is row 1).  ``image`` and ``sample`` are text;
        other columns are numbers where every filled cell is a number, else text.  Empty
        cells and ``NA``/``N/A``/``null``/``-`` are missing (NaN).

    Raises
    ------
    MissingFileError, TableError
        For a missing, unreadable or empty file, an unknown suffix, a duplicate or empty
        column name.

    See Also
    --------
    Dataset.from_table : read and validate, with the images.
    """
    cells, _ = _read_cells(path, sheet)
    out = {}
    for col in cells.columns:
        numeric = col not in REQUIRED_COLUMNS and _infer_numeric(cells[col]) == "numeric"
        out[col] = _type_column(cells[col], numeric)
    return pd.DataFrame(out, index=cells.index)


def _infer_numeric(cells: pd.Series) -> str:
    """``"numeric"``, ``"categorical"`` or ``"mixed"`` (mostly numbers with stray text)."""
    present = [v for v in cells if v is not None]
    if not present:
        return "categorical"
    n_num = sum(_as_number(v) is not None for v in present)
    if n_num == len(present):
        return "numeric"
    return "mixed" if n_num * 2 > len(present) else "categorical"


# ----------------------------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated descriptor table with its images.

    Build it with :meth:`from_table` (a file) or :meth:`from_frame` (a DataFrame).

    Attributes
    ----------
    table : DataFrame
        One row per image, indexed by the table's spreadsheet row number (index name
        ``row``; header = row 1, first data row = row 2).  Columns: ``image`` (as written
        in the table), ``path`` (absolute path of the file), ``sample`` (text), then the
        descriptor columns: numeric ones as ``int64`` (whole numbers, none missing) or
        ``float64`` (NaN where empty), categorical ones as text.
    images_dir : Path
        Absolute folder that relative ``image`` paths are resolved against.
    source : str or None
        The table file as given, or ``None`` for :meth:`from_frame` without a name.
    numeric_columns : tuple of str
        Numeric process-parameter / property columns, in table order.
    categorical_columns : tuple of str
        Categorical columns, in table order.
    """

    table: pd.DataFrame
    images_dir: Path
    source: str | None
    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.table)

    @property
    def samples(self) -> list[str]:
        """Sample ids in order of first appearance."""
        return list(dict.fromkeys(self.table["sample"].tolist()))

    @property
    def columns(self) -> tuple[str, ...]:
        """All descriptor columns (numeric and categorical), in table order."""
        order = [c for c in self.table.columns if c not in RESERVED_COLUMNS]
        return tuple(order)

    @property
    def paths(self) -> list[Path]:
        """Absolute image paths, in table order."""
        return [Path(p) for p in self.table["path"]]

    def row_of(self, path: str | os.PathLike) -> int | None:
        """The spreadsheet row of an image path (absolute or as in the table), or ``None``."""
        target = os.path.abspath(path)
        hits = self.table.index[self.table["path"] == target]
        return int(hits[0]) if len(hits) else None

    def to_dict(self) -> dict[str, Any]:
        """Summary, JSON-compatible (not the table itself)."""
        return {
            "source": self.source,
            "images_dir": str(self.images_dir),
            "n_images": len(self),
            "n_samples": len(self.samples),
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
        }

    @classmethod
    def from_table(
        cls,
        path: str | os.PathLike,
        images_dir: str | os.PathLike | None = None,
        *,
        numeric: Iterable[str] | None = None,
        categorical: Iterable[str] | None = None,
        columns: Iterable[str] | None = None,
        sheet: int | str = 0,
        check_content: bool = True,
    ) -> Dataset:
        """Read and validate a descriptor table and check that its images exist.

        Parameters
        ----------
        path : str or Path
            CSV / XLSX / Parquet table (see :func:`read_table`).
        images_dir : str or Path, optional
            Folder relative ``image`` paths are resolved against; default: the table's folder.
        numeric : iterable of str, optional
            Columns that must hold numbers (empty cells allowed).  When given, every other
            descriptor column is categorical.  When ``None``, each column is inferred: all
            numbers → numeric; mostly numbers with some text → an error naming the first
            stray cell (fix it, or name the column in ``categorical``); else categorical.
        categorical : iterable of str, optional
            Columns to keep as text even if they look numeric (ids, batch codes).
        columns : iterable of str, optional
            Keep only these descriptor columns (``image`` and ``sample`` are always kept).
        sheet : int or str, default 0
            Sheet of a workbook.
        check_content : bool, default True
            Also reject two rows whose files have the same bytes (hashes only files of equal
            size, so this is cheap unless many files share a size).

        Returns
        -------
        Dataset

        Raises
        ------
        TableError
            One line naming the table file, the spreadsheet row (header = row 1) and the
            column of the first problem, and what to do; further problems are counted.
        MissingFileError
            The table file or ``images_dir`` does not exist.
        ParameterError
            A column is both ``numeric`` and ``categorical``, or ``image``/``sample`` is
            named in ``numeric``.
        """
        cells, name = _read_cells(path, sheet)
        if images_dir is None:
            images_dir = Path(path).parent
        return _validate(
            cells,
            name,
            images_dir,
            numeric=numeric,
            categorical=categorical,
            columns=columns,
            check_content=check_content,
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        images_dir: str | os.PathLike,
        *,
        name: str = "table",
        numeric: Iterable[str] | None = None,
        categorical: Iterable[str] | None = None,
        columns: Iterable[str] | None = None,
        check_content: bool = True,
    ) -> Dataset:
        """Validate an in-memory table as :meth:`from_table` does.

        Rows are numbered as if the frame were a spreadsheet: first row = row 2.
        ``name`` stands for the file in messages.
        """
        rows = [[str(c) for c in frame.columns], *frame.astype(object).to_numpy().tolist()]
        cells = _cells_to_frame(rows, name)
        return _validate(
            cells,
            name,
            images_dir,
            numeric=numeric,
            categorical=categorical,
            columns=columns,
            check_content=check_content,
        )


class _Problems:
    """Cell problems of one table, reported in one line: the first by row, the rest counted."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[tuple[int, int, str, str]] = []

    def add(self, row: int, col_pos: int, column: str, detail: str) -> None:
        self.items.append((row, col_pos, column, detail))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = sorted(self.items, key=lambda t: (t[0], t[1]))
        messages = [f"{self.name} row {r}, column {c!r}: {d}" for r, _, c, d in items]
        line = messages[0]
        extra = items[1:]
        if extra:
            named = "; ".join(f"row {r}, column {c!r}" for r, _, c, _ in extra[:_MAX_REPORTED])
            more = ", …" if len(extra) > _MAX_REPORTED else ""
            line += f" (and {len(extra)} more problem{'s' if len(extra) > 1 else ''}: {named}{more})"
        err = TableError(line)
        err.problems = messages  # type: ignore[attr-defined]
        raise err


def _names(arg: Iterable[str] | None) -> list[str] | None:
    if arg is None:
        return None
    if isinstance(arg, str):
        return [arg]
    return [str(a) for a in arg]


def _validate(
    cells: pd.DataFrame,
    name: str,
    images_dir: str | os.PathLike,
    *,
    numeric: Iterable[str] | None,
    categorical: Iterable[str] | None,
    columns: Iterable[str] | None,
    check_content: bool,
) -> Dataset:
    root = Path(os.path.abspath(images_dir))
    if not root.is_dir():
        raise MissingFileError(
            f"{images_dir}: images folder not found; give the folder the table's image paths start in"
        )

    numeric_l = _names(numeric)
    categorical_l = _names(categorical)
    present = list(cells.columns)
    descriptors = _check_header(cells, name, numeric_l, categorical_l, _names(columns))
    position = {c: i for i, c in enumerate(present)}
    problems = _Problems(name)
    paths = _check_image_paths(cells["image"], root, problems, position["image"])

    # --- samples
    pos_sample = position["sample"]
    for row, value in cells["sample"].items():
        if value is None:
            problems.add(
                row,
                pos_sample,
                "sample",
                "empty; give every image a sample id (images of one sample share it)",
            )

    kinds = _descriptor_kinds(cells, descriptors, numeric_l, categorical_l, problems, position)

    problems.raise_if_any()

    # --- same bytes under two names (only files of equal size are hashed)
    if check_content:
        _check_same_content(paths, name, position["image"], cells["image"])

    out: dict[str, pd.Series] = {
        "image": _text_series([_as_text(v) for v in cells["image"]], cells.index),
        "path": _text_series([paths[r] for r in cells.index], cells.index),
        "sample": _text_series([_as_text(v) for v in cells["sample"]], cells.index),
    }
    for col in descriptors:
        out[col] = _type_column(cells[col], kinds[col] == "numeric")
    table = pd.DataFrame(out, index=cells.index)
    return Dataset(
        table=table,
        images_dir=root,
        source=name,
        numeric_columns=tuple(c for c in descriptors if kinds[c] == "numeric"),
        categorical_columns=tuple(c for c in descriptors if kinds[c] == "categorical"),
    )


def _check_header(
    cells: pd.DataFrame,
    name: str,
    numeric_l: list[str] | None,
    categorical_l: list[str] | None,
    columns_l: list[str] | None,
) -> list[str]:
    """Check the columns and the numeric=/categorical=/columns= choices; the descriptor columns."""
    present = list(cells.columns)
    listing = ", ".join(present) if present else "none"
    for required in REQUIRED_COLUMNS:
        if required not in present:
            what = "the file each row describes" if required == "image" else "the sample id of each image"
            raise TableError(
                f"{name} row 1: no {required!r} column (columns: {listing}); add a column named {required!r} "
                f"holding {what}"
            )
    if "path" in present:
        raise TableError(
            f"{name} row 1, column 'path': the name 'path' is reserved for the resolved image path; "
            "rename the column (the file name belongs in 'image')"
        )
    if len(cells) == 0:
        raise TableError(f"{name}: the table has a header but no data rows; add one row per image")

    for label, chosen in (("numeric", numeric_l), ("categorical", categorical_l), ("columns", columns_l)):
        for col in chosen or []:
            if col in REQUIRED_COLUMNS:
                if label == "columns":
                    continue
                raise ParameterError(
                    f"{label}= names {col!r}, which is always text; leave it out of {label}="
                )
            if col not in present:
                raise TableError(
                    f"{name} row 1: {label}= names column {col!r}, which the table does not have "
                    f"(columns: {listing}); check the spelling"
                )
    if numeric_l is not None and categorical_l is not None:
        both = sorted(set(numeric_l) & set(categorical_l))
        if both:
            raise ParameterError(f"column {both[0]!r} is named in both numeric= and categorical=; choose one")

    descriptors = [c for c in present if c not in REQUIRED_COLUMNS]
    if columns_l is not None:
        wanted = [c for c in columns_l if c not in REQUIRED_COLUMNS]
        descriptors = list(dict.fromkeys(wanted))
        if numeric_l is not None:
            descriptors += [c for c in numeric_l if c not in descriptors]
        if categorical_l is not None:
            descriptors += [c for c in categorical_l if c not in descriptors]
    return descriptors


def _check_image_paths(images: pd.Series, root: Path, problems: _Problems, pos_img: int) -> dict[int, str]:
    """Image cells → absolute paths by row: filled, existing image files, each listed once.

    Problems go to ``problems``; rows with a problem have no path.
    """
    from semlab.io import IMAGE_SUFFIXES

    paths: dict[int, str] = {}
    first_row_of: dict[str, int] = {}
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    for row, value in images.items():
        if value is None:
            problems.add(row, pos_img, "image", "empty; give the image file of this row or delete the row")
            continue
        text = _as_text(value)
        candidate = Path(text)
        full = candidate if candidate.is_absolute() else root / candidate
        if not os.path.exists(full) and "\\" in text and os.sep != "\\":
            alt = Path(text.replace("\\", "/"))
            alt_full = alt if alt.is_absolute() else root / alt
            if os.path.exists(alt_full):
                full = alt_full
        abspath = os.path.abspath(full)
        if not os.path.exists(abspath):
            where = "" if candidate.is_absolute() else f" in {root}"
            problems.add(
                row,
                pos_img,
                "image",
                f"file {text!r} not found{where}; fix the path, or point the images folder "
                "(images_dir / --images-dir) at the folder the paths start in",
            )
            continue
        if os.path.isdir(abspath):
            problems.add(row, pos_img, "image", f"{text!r} is a folder; give one image file per row")
            continue
        if Path(abspath).suffix.lower() not in IMAGE_SUFFIXES:
            problems.add(row, pos_img, "image", f"{text!r} is not an image file ({suffixes}); fix the path")
            continue
        if abspath in first_row_of:
            problems.add(
                row,
                pos_img,
                "image",
                f"{text!r} is listed twice (also row {first_row_of[abspath]}); "
                "delete one of the rows (several images of one sample share a 'sample' id instead)",
            )
            continue
        first_row_of[abspath] = row
        paths[row] = abspath
    return paths


def _descriptor_kinds(
    cells: pd.DataFrame,
    descriptors: list[str],
    numeric_l: list[str] | None,
    categorical_l: list[str] | None,
    problems: _Problems,
    position: dict[str, int],
) -> dict[str, str]:
    """Each descriptor column's kind, "numeric" or "categorical" (declared or inferred).

    Cells of a numeric column that are not numbers go to ``problems``.
    """
    kinds: dict[str, str] = {}
    for col in descriptors:
        if numeric_l is not None:
            kinds[col] = "numeric" if col in numeric_l else "categorical"
        elif categorical_l is not None and col in categorical_l:
            kinds[col] = "categorical"
        else:
            inferred = _infer_numeric(cells[col])
            kinds[col] = "numeric" if inferred != "categorical" else "categorical"
            if inferred == "mixed":
                kinds[col] = "mixed"
    for col in descriptors:
        if kinds[col] == "categorical":
            continue
        declared = kinds[col] == "numeric" and numeric_l is not None
        for row, value in cells[col].items():
            if value is None or _as_number(value) is not None:
                continue
            shown = _as_text(value)
            hint = _number_hint(shown) if isinstance(value, str) else ""
            if declared:
                todo = hint or "fix the cell or leave it empty"
                text = f"{shown!r} is not a number, but the column is declared numeric; {todo}"
            else:
                todo = hint or "fix the cell or declare the column categorical"
                text = f"{shown!r} is not a number; {todo}"
            problems.add(row, position[col], col, text)
        kinds[col] = "numeric"
    return kinds


def _quick_digest(path: str, size: int, block: int = 1 << 16) -> bytes:
    """Hash of a file's first and last 64 KiB (a cheap pre-filter before a full hash)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(block))
        if size > 2 * block:
            fh.seek(-block, os.SEEK_END)
        h.update(fh.read(block))
    return h.digest()


def _check_same_content(paths: dict[int, str], name: str, pos: int, images: pd.Series) -> None:
    from semlab._util import file_sha256

    by_size: dict[int, list[int]] = {}
    for row, p in paths.items():
        by_size.setdefault(os.path.getsize(p), []).append(row)
    problems = _Problems(name)
    for size, rows in by_size.items():
        if len(rows) < 2:
            continue
        by_quick: dict[bytes, list[int]] = {}
        for row in rows:
            by_quick.setdefault(_quick_digest(paths[row], size), []).append(row)
        for group in by_quick.values():
            if len(group) < 2:
                continue
            seen: dict[str, int] = {}
            for row in sorted(group):
                digest = file_sha256(paths[row])
                if digest in seen:
                    problems.add(
                        row,
                        pos,
                        "image",
                        f"{_as_text(images[row])!r} has the same content as "
                        f"{_as_text(images[seen[digest]])!r} (row {seen[digest]}); delete the duplicate row "
                        "or fix the path",
                    )
                else:
                    seen[digest] = row
    problems.raise_if_any()
