"""Descriptor tables, datasets and workspaces.

A *descriptor table* (CSV, XLSX or Parquet) maps image files to a ``sample`` id and the
sample's process parameters and properties; :class:`Dataset` is such a table validated
against its images.  A :class:`Workspace` is a folder holding a SQLite catalog and a
content-addressed copy of every image added, with crop boxes of their data bars.

>>> from semlab.dataset import Dataset, Workspace, read_table
>>> ds = Dataset.from_table("descriptors.csv", "images/")  # doctest: +SKIP
>>> ws = Workspace.init("my-study")  # doctest: +SKIP
>>> ws.add(table=ds)  # doctest: +SKIP
"""

from semlab.dataset.table import REQUIRED_COLUMNS, TABLE_SUFFIXES, Dataset, read_table
from semlab.dataset.workspace import (
    CATALOG_NAME,
    SCHEMA_VERSION,
    AddResult,
    ImageRecord,
    Workspace,
    WorkspaceStatus,
)

__all__ = [
    "CATALOG_NAME",
    "REQUIRED_COLUMNS",
    "SCHEMA_VERSION",
    "TABLE_SUFFIXES",
    "AddResult",
    "Dataset",
    "ImageRecord",
    "Workspace",
    "WorkspaceStatus",
    "read_table",
]
