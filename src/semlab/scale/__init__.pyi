# Public API of semlab.scale: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``).

from .engine import (
    ENGINES,
    Engine,
    ItemsFailed,
    ScaleReport,
    check_engine,
    current_engine,
    ray_session,
    run_batches,
    use_engine,
)

__all__ = [
    "ENGINES",
    "Engine",
    "ItemsFailed",
    "ScaleReport",
    "check_engine",
    "current_engine",
    "ray_session",
    "run_batches",
    "use_engine",
]
