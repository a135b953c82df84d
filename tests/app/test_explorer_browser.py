"""The explorer served by a real ``streamlit run`` and read by a real headless Chromium.

Needs the Debian packages ``chromium`` and ``chromium-driver`` and the ``selenium`` package; without
them the test skips with the reason (and CI, which installs them, turns that skip into a failure).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from persona.app import streamlit_command

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(trained_store: str, tmp_path: Path) -> Iterator[str]:
    """``streamlit run`` on a free local port, serving the fixture store; yields the base URL."""
    port = _free_port()
    log_path = tmp_path / "streamlit.log"
    env = dict(os.environ, PERSONA_STORE=trained_store)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            streamlit_command(port, address="127.0.0.1", headless=True),
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer /_stcore/health within 90 s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture
def browser(tmp_path: Path):
    """Headless Chromium driven by chromedriver, with a fresh profile and network logging."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    if not Path(CHROMEDRIVER).is_file():
        pytest.skip(f"chromedriver not found at {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--window-size=1600,1700", f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _body_text(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _wait_for(driver, condition, what: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)
    except TimeoutException:
        pytest.fail(f"timed out after {timeout} s waiting for {what}; the page shows:\n{_body_text(driver)[:3000]}")


def _requested_urls(driver) -> list[str]:  # type: ignore[no-untyped-def]
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def test_user_page_in_a_real_browser(server: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/?user=u1")
    _wait_for(browser, lambda d: "Airplane!" in _body_text(d), "the first recommendation")
    # the neighbourhood picture is drawn in the page (Streamlit's bundled Graphviz, no network)
    svg_texts = _wait_for(
        browser,
        lambda d: [t.text for t in d.find_elements(By.CSS_SELECTOR, '[data-testid="stGraphVizChart"] svg text')]
        or False,
        "the neighbourhood graph",
    )
    _wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"] canvas, '
                                                 '[data-testid="stVegaLiteChart"] svg'), "the attention chart")
    time.sleep(1)  # let fonts and the chart settle before the picture
    shot = tmp_path / "explorer-u1.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    text = _body_text(browser)
    assert "User u1" in text
    for title in ("Blazing Saddles", "Young Frankenstein", "The Producers", "Spaceballs"):
        assert title in svg_texts
    assert {"Comedy", "Mel Brooks", "Parody"} <= set(svg_texts)
    assert "Attention weights: U-I-Genre-I-U 0.550 · U-I-Person-I-U 0.350 · U-I-U 0.100" in text
    assert "Extractive summary (no LLM configured)" in text
    assert "Likes Mel Brooks parodies and absurd comedy." in text

    rows = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stTable"] tbody tr')
    cells = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "td, th")] for r in rows]
    assert [c[:3] for c in cells] == [
        ["1", "Airplane!", "0.9100"],
        ["2", "The Naked Gun", "0.8400"],
        ["3", "Silent Movie", "0.7700"],
        ["4", "Hot Shots!", "0.5200"],
        ["5", "Top Secret!", "0.3100"],
    ]
    assert cells[2][-1] == "held-out test item"
    highlighted = rows[2].find_elements(By.CSS_SELECTOR, "td")[0].value_of_css_property("background-color")
    assert highlighted == "rgba(198, 239, 206, 1)"  # #c6efce
    assert "Held-out test item “Silent Movie” is at rank 3." in text

    # everything the page loaded came from the local server: it works offline
    urls = [u for u in _requested_urls(browser) if u.startswith(("http:", "https:", "ws:", "wss:"))]
    assert any(u.startswith(f"{server}/static/") for u in urls)
    assert [u for u in urls if not u.startswith((server, server.replace("http:", "ws:")))] == []
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_unknown_user_in_a_real_browser(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    browser.get(f"{server}/?user=nobody")
    _wait_for(browser, lambda d: "No user with id" in _body_text(d), "the unknown-user message")
    assert "No user with id “nobody” in embedded:" in _body_text(browser)
