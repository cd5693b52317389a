"""numba's ``njit`` as semlab's compiled kernels use it (imported only by the kernel modules).

The machine code is cached on disk where numba finds a writable cache folder
(``NUMBA_CACHE_DIR``, next to the kernel's file, or the user's cache folder); where none is
writable (a read-only installation), the kernel is compiled in memory on first use instead of
failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba


def jit(fn: Callable | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True, nogil=True, **options)``, or without ``cache`` where no cache
    folder is writable.  Use as ``@jit`` or ``@jit(parallel=True)``."""

    def wrap(f: Callable) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, **options)(f)
        except RuntimeError:  # "cannot cache function ...: no locator available": compile in memory
            return numba.njit(nogil=True, **options)(f)

    return wrap(fn) if fn is not None else wrap
