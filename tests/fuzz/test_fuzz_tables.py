"""Fuzzing descriptor tables with a seeded generator (issue 19 item 6).

A valid table of four images gets random bad cells (empty, NaN, ±inf, text in a numeric
column, huge numbers, control characters, formula-like text, quotes and newlines, a
missing or duplicated image, an absent column).  ``Dataset.from_table`` must return a
dataset or raise a ``SemlabError`` with a one-line message — nothing else.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from semlab.dataset import Dataset
from semlab.errors import SemlabError
from semlab.io import write_micrograph

SEED = 20261126
N_CASES = 200

BAD_CELLS = [
    "",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "-0",
    "abc",
    "12 µm",
    "=1+1",
    "@SUM(A1)",
    "+cmd|' /C calc'!A0",
    '"quoted"',
    "line\nbreak",
    "tab\there",
    "\x00nul",
    "é" * 300,
    "1,5",
    " 3 ",
    "0x10",
    "True",
    "None",
    "../../etc/passwd",
    "/abs/path.tif",
    "a0.tif",
    "missing.tif",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-tables")
    rng = np.random.default_rng(0)
    for i in range(4):
        write_micrograph(d / f"a{i}.tif", rng.integers(0, 255, (16, 16), dtype=np.uint8), pixel_size=0.01)
    return d


def _table(rng: np.random.Generator) -> list[list[str]]:
    header = ["image", "sample", "burst_count", "porosity", "cooling"]
    rows = [
        [f"a{i}.tif", f"s{i // 2}", str(10 + i), f"{0.1 * i:.2f}", ["air", "furnace"][i % 2]]
        for i in range(4)
    ]
    table = [header, *rows]
    for _ in range(int(rng.integers(1, 5))):
        r = int(rng.integers(0, len(table)))
        c = int(rng.integers(0, len(header)))
        table[r][c] = BAD_CELLS[int(rng.integers(0, len(BAD_CELLS)))]
    if rng.random() < 0.1:  # a ragged row
        table[int(rng.integers(1, len(table)))].append("extra")
    if rng.random() < 0.1:  # a dropped column
        c = int(rng.integers(0, len(header)))
        table = [row[:c] + row[c + 1 :] for row in table]
    return table


def test_from_table_survives_bad_cells(folder):
    rng = np.random.default_rng(SEED)
    outcomes = {"ok": 0, "error": 0}
    for k in range(N_CASES):
        table = _table(rng)
        path = folder / f"t{k}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(table)
        numeric = ["burst_count", "porosity"] if rng.random() < 0.5 else None
        try:
            ds = Dataset.from_table(path, folder, numeric=numeric)
        except SemlabError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg, f"case {k}: multi-line error {msg!r}"
            outcomes["error"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"case {k} (seed {SEED}): {type(exc).__name__}: {exc}; table {table!r}")
        assert len(ds) >= 1
        for col in ds.numeric_columns:
            values = ds.table[col].to_numpy(dtype=float)
            assert not np.isinf(values).any(), f"case {k}: infinite value accepted in {col}: {table!r}"
        outcomes["ok"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0, outcomes  # both paths exercised
