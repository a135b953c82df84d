"""Start the explorer: ``streamlit run <installed path of explorer.py>``."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import NoReturn

#: Where the explorer listens unless ``--host`` says otherwise: it shows user histories.
DEFAULT_ADDRESS = "127.0.0.1"


def explorer_path() -> Path:
    """Path of the Streamlit script (inside the installed ``persona.app`` package)."""
    return Path(__file__).resolve().with_name("explorer.py")


def streamlit_command(
    port: int | None = None,
    *,
    address: str | None = None,
    headless: bool = False,
    config: Path | None = None,
) -> list[str]:
    """The argv that serves the explorer (``python -m streamlit run …``).

    Args:
        port: TCP port (Streamlit's default 8501 when None).
        address: Address to bind; 127.0.0.1 (this machine only) when None. Streamlit's own default
            is every interface, so it is always set explicitly.
        headless: Do not open a browser window.
        config: persona-kg TOML config file passed to the script (``-- --config FILE``).
    """
    cmd = [sys.executable, "-m", "streamlit", "run", str(explorer_path()), "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "minimal"]
    if port is not None:
        cmd += ["--server.port", str(int(port))]
    cmd += ["--server.address", address or DEFAULT_ADDRESS]
    if headless:
        cmd += ["--server.headless", "true"]
    if config is not None:
        cmd += ["--", "--config", str(Path(config).resolve())]
    return cmd


def launch(
    store: str | None = None,
    port: int | None = None,
    *,
    address: str | None = None,
    headless: bool = False,
    config: Path | None = None,
) -> NoReturn:
    """Replace this process with the Streamlit server of the explorer (``persona app``).

    The store URI travels as ``PERSONA_STORE`` (the same variable the configuration reads), so a
    ``--store`` flag beats the environment and the config file, as everywhere else.

    Args:
        store: Store URI (``embedded:PATH``, ``bolt://…``); None keeps the configured one.
        port: TCP port (default 8501).
        address: Address to bind (default :data:`DEFAULT_ADDRESS`, 127.0.0.1).
        headless: Do not open a browser window.
        config: persona-kg TOML config file.

    Raises:
        RuntimeError: Streamlit is not installed.
    """
    if importlib.util.find_spec("streamlit") is None:
        raise RuntimeError("the explorer needs Streamlit: pip install 'persona-kg[app]'")
    if store is not None:
        os.environ["PERSONA_STORE"] = store
    cmd = streamlit_command(port, address=address, headless=headless, config=config)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
