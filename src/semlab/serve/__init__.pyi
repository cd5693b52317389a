# Public API of semlab.serve: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from ._net import is_loopback, new_token
from .app import create_app

__all__ = [
    "create_app",
    "is_loopback",
    "new_token",
]
