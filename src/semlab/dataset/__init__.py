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

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
