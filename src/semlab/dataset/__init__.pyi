# Public API of semlab.dataset: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .table import REQUIRED_COLUMNS, TABLE_SUFFIXES, Dataset, read_table
from .workspace import (
    CATALOG_NAME,
    PIXEL_SIZE_SOURCES,
    SCHEMA_VERSION,
    AddResult,
    ImageRecord,
    Workspace,
    WorkspaceStatus,
)

__all__ = [
    "AddResult",
    "CATALOG_NAME",
    "Dataset",
    "ImageRecord",
    "PIXEL_SIZE_SOURCES",
    "REQUIRED_COLUMNS",
    "SCHEMA_VERSION",
    "TABLE_SUFFIXES",
    "Workspace",
    "WorkspaceStatus",
    "read_table",
]
