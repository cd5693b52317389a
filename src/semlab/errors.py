"""Exceptions and warnings raised by semlab.

Every error meant for a person is a :class:`SemlabError` subclass whose message is one
line naming the file, row, column or parameter at fault and saying what to do.  The CLI
prints it without a traceback and exits with status 2.
"""

from __future__ import annotations


class SemlabError(Exception):
    """Base class of all errors semlab raises on bad input or state."""


class FileFormatError(SemlabError):
    """A file cannot be read as the kind of data asked for."""


class MetadataError(SemlabError):
    """Vendor metadata is missing or inconsistent where it is required."""


class ParameterError(SemlabError, ValueError):
    """A function argument has an invalid value."""


class TableError(SemlabError):
    """A descriptor table (CSV/XLSX/Parquet) is invalid."""


class WorkspaceError(SemlabError):
    """A workspace folder is missing, corrupt or used inconsistently."""


class ScaleWarning(UserWarning):
    """An image is used at another scale than the study's (e.g. tiled at its native resolution)."""


class MetadataWarning(UserWarning):
    """Vendor metadata could not be fully interpreted; values fall back to ``None``."""


class MissingFileError(SemlabError, FileNotFoundError):
    """A file or folder named by the user does not exist."""
