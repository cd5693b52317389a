"""``semlab train, finetune, predict`` (stage: learn)."""

from __future__ import annotations

from semlab.cli import app  # noqa: F401
