"""``semlab serve`` (stage: serve)."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app

_PANEL = "Serve"


@app.command("serve", rich_help_panel=_PANEL)
def serve(
    workspace: Path = typer.Argument(..., help="Workspace folder (`semlab init`); uploads are added to it."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on. Anything but loopback requires a token."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    token: str = typer.Option(
        None,
        "--token",
        help="Access token required on every request (generated and printed when --host is not loopback).",
    ),
    model: Path = typer.Option(
        None, "--model", help="Trained run folder for predictions (default: newest WORKSPACE/runs/*)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, max=16, help="Background threads running analyses."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default web browser."),
) -> None:
    """Run the local web app: upload micrographs, predict, segment, quantify, place on the map.

    The page is at http://HOST:PORT/ and the API description at /openapi.json (/docs loads Swagger UI from the internet).

    Uploads are stored in the workspace by content hash; results are kept in its catalog (tables serve_uploads, serve_jobs) and under WORKSPACE/serve/, so a restart loses nothing. With a token, open the printed address once (it sets a cookie) or send `Authorization: Bearer TOKEN`. Stop with Ctrl+C.
    """
    import uvicorn

    from semlab.dataset import Workspace
    from semlab.errors import ParameterError
    from semlab.serve import create_app, is_loopback, new_token

    ws = Workspace.open(workspace)
    if token is not None and len(token) < 8:
        raise ParameterError("--token must have at least 8 characters; or leave it out to get a random one")
    if token is None and not is_loopback(host):
        token = new_token()
    application = create_app(ws, token=token, model=model, workers=workers, hosts=(host,))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    caps = application.state.analyses.capabilities()
    typer.echo(f"semlab serve: workspace {ws.path}")
    for task, cap in caps.items():
        typer.echo(f"  {task:9s} {'ready' if cap['available'] else 'off: ' + cap['reason']}")
    if token:
        typer.echo(
            f"access token: {token} (send `Authorization: Bearer TOKEN`, or open the address below once)"
        )
    typer.echo(f"open {url}")
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(application, host=host, port=port, log_level="warning")
