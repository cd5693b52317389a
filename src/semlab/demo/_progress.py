"""The demo's progress protocol: every step is announced and reported at least once a second.

A step is a context: ``with stages.stage("segment pores", total=24) as tick: tick(k, 24)``.
While it runs, a heartbeat thread re-sends the step's latest ``(done, total)`` every
``heartbeat_s`` seconds, so the caller (the CLI's spinner, a test's recorder) hears of the
step at least that often even when the work inside reports nothing (a model fit, UMAP's
compilation).  ``total`` 0 means "unknown" (a spinner, not a bar).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StepProgress = Callable[[str, int, int], None]


class Stages:
    """Announces the demo's steps to ``progress(step, done, total)`` (nothing when it is None)."""

    def __init__(self, progress: StepProgress | None, *, heartbeat_s: float = 1.0) -> None:
        self._progress = progress
        self._heartbeat_s = heartbeat_s
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str, total: int = 0) -> Iterator[Callable[[int, int | None], None]]:
        """Run one step; yields ``tick(done, total)`` for the work inside to report counts."""
        if self._progress is None:
            yield lambda done, total: None
            return
        send = self._progress
        state = [0, int(total)]
        stop = threading.Event()

        def tick(done: int, total: int | None) -> None:
            with self._lock:
                state[0], state[1] = int(done), int(total or 0)
                send(name, state[0], state[1])

        def beat() -> None:
            while not stop.wait(self._heartbeat_s):
                with self._lock:
                    send(name, state[0], state[1])

        tick(0, total)
        thread = threading.Thread(target=beat, name=f"semlab-demo-{name}", daemon=True)
        thread.start()
        try:
            yield tick
        finally:
            stop.set()
            thread.join()
        done_total = state[1] or 1
        tick(done_total, done_total)
