"""``persona serve``: keep a train run loaded and answer HTTP requests (see :mod:`persona.serve`)."""

from __future__ import annotations

import os

# Spinning OpenMP workers steal the second core from everything else on small machines (measured ~10×
# slower SASRec epochs on a busy 2-core box); passive waiting costs little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import ipaddress
from typing import Annotated

import typer

from persona._ui import console, err_console
from persona.config import ServeSettings

from ._base import (
    ConfigOpt,
    DeviceOpt,
    RunOpt,
    StoreOpt,
    _config_default,
    _settings,
    app,
    apply_device,
    mask_secrets,
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve_cmd(
    host: Annotated[
        str | None, typer.Option("--host", metavar="HOST", help="Address to bind: 127.0.0.1 is this machine only; "
                                 "0.0.0.0 exposes users' histories and lists to the network."
                                 + _config_default(ServeSettings, "host", "serve"))
    ] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", min=0, max=65535, metavar="PORT",
                                             help="Port (0: any free one, printed)." + _config_default(ServeSettings, "port", "serve"))] = None,
    access_log: Annotated[bool, typer.Option("--access-log", help="Print one line per request on stderr.")] = False,
    device: DeviceOpt = None,
    run: RunOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve recommendations and their reasons over HTTP (JSON) from a run loaded once.

    Routes: GET /health, GET /users/ID/recommendations?k=10, GET /users/ID/explain?item=ID,
    POST /sessions/recommendations {"items": [...], "k": 10}, POST /sessions/explain. The store is read
    at start-up only; restart to serve a newer run. Stop with Ctrl+C.
    """
    from persona.serve import WarmRun, make_server

    s = _settings(store, config)
    apply_device(s, device)
    host = s.serve.host if host is None else host
    port = s.serve.port if port is None else port
    warm = WarmRun.load(s, run)
    server = make_server(warm, host, port, access_log=access_log, mask=mask_secrets)
    if not _is_loopback(host):
        err_console.print(f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine can read "
                          "users' lists and histories (there is no authentication)", highlight=False)
    console.print(f"serving run {warm.run.id} of {mask_secrets(s.store)} ({warm.users} users, {warm.items} items, "
                  f"loaded in {warm.load_s:.1f} s) on {server.url} — Ctrl+C stops", highlight=False, soft_wrap=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        server.server_close()
