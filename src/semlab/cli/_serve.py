"""``semlab serve`` (stage: serve)."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app

_PANEL = "Serve"


def _port_busy(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (e.g. another server holds it), or None when it can.

    Binds a throw-away socket the way uvicorn does (``SO_REUSEADDR``, so a port in TIME_WAIT counts as free)
    and closes it again at once. A host name that does not resolve here is not judged.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return None  # a name this machine cannot resolve: left to the server to report
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


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
    busy = _port_busy(host, port)
    if busy is not None:
        raise ParameterError(
            f"port {port} on {host} is not available ({busy}); another program may be using it: "
            f"choose another with --port, e.g. --port {port + 1 if port < 65535 else 8001}"
        )
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
