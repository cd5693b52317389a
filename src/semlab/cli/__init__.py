"""The ``semlab`` command: one sub-command per stage, thin over the Python API.

Heavy libraries are imported inside the commands, so ``semlab --help`` stays fast.
"""

from __future__ import annotations

import sys
import warnings

import typer

from semlab import __version__
from semlab.errors import SemlabError

app = typer.Typer(
    name="semlab",
    help=(
        "semlab: from SEM micrographs to process-structure-property knowledge.\n\n"
        "Stages: ingest (info, init, add, status), preprocess (crop, patches), features (embed), "
        "learn (train, finetune, predict), maps (map), segment, quantify, relate (relate, predict-property), "
        "generate, serve, demo."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"semlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    max_decoded_bytes: str | None = typer.Option(
        None,
        "--max-decoded-bytes",
        envvar="SEMLAB_MAX_DECODED_BYTES",
        help=(
            "Largest image any command decodes: pixels × channels × bytes per sample, read from the "
            "file's header before decoding (e.g. 2G, 512M; default 512M). Also set by the "
            "SEMLAB_MAX_DECODED_BYTES environment variable. Give it before the sub-command."
        ),
    ),
) -> None:
    """semlab: from SEM micrographs to process-structure-property knowledge."""
    if max_decoded_bytes is not None:
        import os

        from semlab.io.limits import ENV_VAR, parse_size

        os.environ[ENV_VAR] = str(parse_size(max_decoded_bytes, "--max-decoded-bytes"))


# Sub-command modules register themselves on ``app``; the order here is the order of the
# stages in ``semlab --help``.
from semlab.cli import _ingest  # noqa: E402,F401,I001
from semlab.cli import _dataset  # noqa: E402,F401
from semlab.cli import _preprocess  # noqa: E402,F401
from semlab.cli import _segment  # noqa: E402,F401
from semlab.cli import _particles  # noqa: E402,F401
from semlab.cli import _features  # noqa: E402,F401
from semlab.cli import _learn  # noqa: E402,F401
from semlab.cli import _maps  # noqa: E402,F401
from semlab.cli import _quantify  # noqa: E402,F401
from semlab.cli import _relate  # noqa: E402,F401
from semlab.cli import _generate  # noqa: E402,F401
from semlab.cli import _serve  # noqa: E402,F401
from semlab.cli import _demo  # noqa: E402,F401


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    from semlab._util import shown_text

    typer.echo(f"warning: {shown_text(str(message))}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; print a :class:`SemlabError` as one line, exit 2.

    Warnings (e.g. metadata that could not be interpreted) are printed as one line each,
    ``warning: …``, on stderr.
    """
    import os

    limit_env = os.environ.get("SEMLAB_MAX_DECODED_BYTES")  # --max-decoded-bytes sets it for one run
    for stream in (sys.stdout, sys.stderr):  # file names with undecodable bytes print escaped
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            app(args=argv, prog_name="semlab", standalone_mode=False)
    except SemlabError as exc:
        from semlab._util import shown_text

        typer.echo(f"error: {shown_text(str(exc))}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except MemoryError:
        typer.echo(
            "error: out of memory; use a smaller image or a lower --max-decoded-bytes "
            "(SEMLAB_MAX_DECODED_BYTES) so large files are refused before decoding",
            err=True,
        )
        return 2
    except Exception as exc:
        # Usage errors (bad option, missing argument) come from the click that typer uses,
        # which may be typer's own vendored copy: recognise them by their interface.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        raise
    finally:
        if limit_env is None:
            os.environ.pop("SEMLAB_MAX_DECODED_BYTES", None)
        else:
            os.environ["SEMLAB_MAX_DECODED_BYTES"] = limit_env
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
