"""The command line's one progress bar (rich), shared by every command that shows one."""

from __future__ import annotations

from typing import Any


def progress_bar(
    label: str | None = None,
    *,
    quiet: bool = False,
    eta: bool = True,
    spinner: bool = False,
    console: Any = None,
) -> Any:
    """A transient ``rich.progress.Progress`` on stderr, off with ``--quiet`` or off a terminal.

    Columns: an optional spinner, ``label`` (when given), the bar, ``done/total``, the time
    remaining (``eta``) or elapsed, then each task's own description (e.g. the current file).
    Transient: the bar is gone before any result or error is printed, so stdout keeps only
    the machine-readable results.

    Parameters
    ----------
    label : str, optional
        Fixed text before the bar (e.g. ``"adding"``); tasks add their own description after it.
    quiet : bool
        No bar at all.
    eta : bool
        Time remaining (True) or elapsed (False; for work whose total is a budget, not a count).
    spinner : bool
        A spinner first (for steps whose total is unknown while they start).
    console : rich.console.Console, optional
        Where to draw (default: stderr).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console if console is not None else Console(stderr=True)
    columns: list[Any] = [SpinnerColumn()] if spinner else []
    if label is not None:
        columns.append(TextColumn(label.replace("[", "\\[")))
    columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn() if eta else TimeElapsedColumn()]
    columns.append(TextColumn("{task.description}"))
    return Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal)
