"""The ``--engine`` and ``--address`` options shared by ``embed``, ``segment``, ``quantify`` and ``predict``."""

from __future__ import annotations

import typer

ENGINE = typer.Option(
    "local",
    "--engine",
    help="local (this process, the default) or ray: the per-image work on a Ray cluster (needs Ray Data: "
    "semlab's scale extra); the results are the same and this process alone writes them. See docs/scale.md.",
)
ADDRESS = typer.Option(
    None,
    "--address",
    help="With --engine ray: the cluster to join, 'auto' (started here with `ray start --head`) or "
    "ray://HOST:10001; default a Ray instance started for this command on this machine's CPUs.",
)
