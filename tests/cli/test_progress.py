"""The CLI's one progress bar: drawn on a terminal, gone with --quiet or off a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from semlab.cli._progress import progress_bar


def _draw(**kw) -> str:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    with progress_bar("adding", console=console, **kw) as bar:
        task = bar.add_task("file_003.tif", total=5)
        bar.update(task, completed=3)
        bar.refresh()
    return buf.getvalue()


def test_bar_shows_label_count_and_task_on_a_terminal():
    out = _draw()
    assert "adding" in out and "3/5" in out and "file_003.tif" in out


def test_quiet_or_no_terminal_draws_nothing():
    assert _draw(quiet=True) == ""
    buf = io.StringIO()
    with progress_bar("adding", console=Console(file=buf, force_terminal=False)) as bar:
        bar.update(bar.add_task("x", total=2), completed=1)
    assert buf.getvalue() == ""


def test_label_with_brackets_is_shown_literally():
    buf = io.StringIO()
    with progress_bar("[bold]x", console=Console(file=buf, force_terminal=True, width=80)) as bar:
        bar.update(bar.add_task("", total=1), completed=1)
        bar.refresh()
    assert "[bold]x" in buf.getvalue()
