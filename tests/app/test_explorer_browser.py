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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from persona.app import streamlit_command

from .conftest import U1_RECS

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """``streamlit run`` of the explorer on a free local port (what ``persona app`` runs)."""

    def __init__(self, uri: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"streamlit-{self.port}.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                streamlit_command(self.port, address="127.0.0.1", headless=True),
                cwd=cwd, env=dict(os.environ, PERSONA_STORE=uri, **(env or {})), stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"streamlit exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"streamlit did not answer /_stcore/health within 90 s:\n{self.log_path.read_text()}")
            time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start explorer servers for store URIs (stopped at the end); returns their base URL."""
    started: list[_Server] = []

    def start(uri: str, env: dict[str, str] | None = None) -> str:
        started.append(_Server(uri, tmp_path, env))
        return started[-1].url

    try:
        yield start
    finally:
        for srv in started:
            srv.stop()


@pytest.fixture
def server(trained_store: str, serve) -> str:  # type: ignore[no-untyped-def]
    """The explorer serving the fixture store."""
    return serve(trained_store)


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


TRACEBACK_MARKS = ("Traceback", "Unexpected error", 'File "', "KeyError", "Something went wrong")
ARTEFACTS = Path(os.environ.get("PERSONA_TEST_ARTEFACTS", "")) if os.environ.get("PERSONA_TEST_ARTEFACTS") else None


def _shot(driver, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a screenshot as a test artefact (the pytest tmp dir; also $PERSONA_TEST_ARTEFACTS when set)."""
    shot = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if ARTEFACTS is not None:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, ARTEFACTS / shot.name)
    return shot


def _no_traceback(driver) -> None:  # type: ignore[no-untyped-def]
    text = _body_text(driver)
    assert not [m for m in TRACEBACK_MARKS if m in text], text[:3000]


def _click_label(driver, text: str) -> None:  # type: ignore[no-untyped-def]
    """Click the radio option (or other label) showing ``text``."""
    from selenium.webdriver.common.by import By

    label = _wait_for(driver, lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "label")
                                              if e.text.strip() == text and e.is_displayed()), False), f"the label {text!r}")
    label.click()


def _graph_frame(driver):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return _wait_for(driver, lambda d: next((f for f in d.find_elements(By.CSS_SELECTOR, "iframe")
                                             if "persona_graph" in (f.get_attribute("src") or "")), False),
                     "the neighbourhood graph component")


def _graph_ready(driver) -> dict:  # type: ignore[no-untyped-def]
    """Switch into the graph's iframe, wait for vis-network to draw; return its node positions (DOM px)."""
    driver.switch_to.frame(_graph_frame(driver))
    _wait_for(driver, lambda d: d.execute_script("return !!(window.vis && window.personaGraph)"), "vis-network to start")
    return driver.execute_script(
        "var g = window.personaGraph, p = g.getPositions(), out = {};"
        "Object.keys(p).forEach(function (k) { out[k] = g.canvasToDOM(p[k]); }); return out;"
    )


def _click_node(driver, canvas, size, node: str) -> None:  # type: ignore[no-untyped-def]
    """A real mouse click on a graph node (centred and zoomed in first, so it is not hidden under another)."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("var g = window.personaGraph; g.moveTo({scale: 1.2, position: g.getPositions([arguments[0]])[arguments[0]]});", node)
    time.sleep(0.5)
    pos = driver.execute_script("var g = window.personaGraph; return g.canvasToDOM(g.getPositions([arguments[0]])[arguments[0]]);", node)
    ActionChains(driver).move_to_element_with_offset(canvas, pos["x"] - size["width"] / 2, pos["y"] - size["height"] / 2).click().perform()


def _check_user_page(browser, url: str, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """Open u1, check the graph, click recommendations (in the list and in the graph), open the map."""
    from selenium.webdriver.common.by import By

    browser.get(f"{url}/?user=u1")
    _wait_for(browser, lambda d: "Airplane!" in _body_text(d), "the first recommendation")
    positions = _graph_ready(browser)
    # the user, training items, attributes, similar users and the five recommendations are drawn
    assert {"u", "i:i01", "i:i04", "a:Person:p:brooks", "a:Genre:g:parody", "s:u2"} <= set(positions)
    assert {f"r:{i}" for i, _ in U1_RECS} <= set(positions)
    assert browser.find_elements(By.CSS_SELECTOR, "canvas")
    canvas = browser.find_element(By.CSS_SELECTOR, "#graph canvas")
    size = canvas.size

    def click(node: str) -> None:
        _click_node(browser, canvas, size, node)

    browser.switch_to.default_content()
    _shot(browser, tmp_path, f"{name}-user")
    _no_traceback(browser)
    text = _body_text(browser)
    assert "User u1" in text and "“Airplane!” is viewed together with “Blazing Saddles”, in your history." in text

    # choose a recommendation in the list: its reasons appear
    _click_label(browser, "#3 Silent Movie")
    _wait_for(browser, lambda d: "are directed by Mel Brooks, as is “Silent Movie”." in _body_text(d),
              "Silent Movie's reason")
    # ... and in the graph: a click on The Naked Gun's node selects it
    _graph_ready(browser)
    canvas = browser.find_element(By.CSS_SELECTOR, "#graph canvas")
    size = canvas.size
    _click_node(browser, canvas, size, "r:i08")
    browser.switch_to.default_content()
    _wait_for(browser, lambda d: "are in the genre Parody, as is “The Naked Gun”." in _body_text(d),
              "The Naked Gun's reason after a click in the graph")
    _shot(browser, tmp_path, f"{name}-why")
    _no_traceback(browser)

    _click_label(browser, "Persona map")
    _wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"] canvas, '
                                                 '[data-testid="stVegaLiteChart"] svg'), "the persona map")
    _wait_for(browser, lambda d: "4 personas, PCA" in _body_text(d), "the persona map caption")
    time.sleep(1)
    _shot(browser, tmp_path, f"{name}-map")
    _no_traceback(browser)
    _click_label(browser, "Run & evaluation")
    _wait_for(browser, lambda d: "No training run is recorded" in _body_text(d), "the run view")
    _no_traceback(browser)
    _click_label(browser, "Anonymous session")
    _wait_for(browser, lambda d: "so there is no model to ask" in _body_text(d), "the session view")
    _no_traceback(browser)

    # everything the page loaded came from the local server: it works offline
    urls = [u for u in _requested_urls(browser) if u.startswith(("http:", "https:", "ws:", "wss:"))]
    assert any(u.startswith(f"{url}/static/") for u in urls)
    assert any("vis-network.min.js" in u for u in urls)
    assert [u for u in urls if not u.startswith((url, url.replace("http:", "ws:")))] == []
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_user_page_in_a_real_browser(server: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _check_user_page(browser, server, tmp_path, "embedded")


@pytest.mark.neo4j
@pytest.mark.parametrize("store", [pytest.param("neo4j", marks=pytest.mark.neo4j)], indirect=True)
def test_user_page_on_neo4j_in_a_real_browser(trained, serve, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _check_user_page(browser, serve(trained.uri), tmp_path, "neo4j")


def test_session_and_run_in_a_real_browser(demo_run, serve, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    uri, work = demo_run
    url = serve(uri, {"PERSONA_WORKDIR": str(work)})
    browser.get(f"{url}/?user=U00001")
    _wait_for(browser, lambda d: "Held-out item at test time" in _body_text(d), "the user page")
    _wait_for(browser, lambda d: "of the full catalogue at test time" in _body_text(d), "the held-out rank")
    _graph_ready(browser)
    # a click on a node expands it: what it still hides joins the picture
    node = browser.execute_script("return Object.keys(window.personaHidden)[0]")
    assert node, "a user with 20-odd training items has nodes to expand"
    before = browser.execute_script("return window.personaGraph.body.data.nodes.length")
    canvas = browser.find_element(By.CSS_SELECTOR, "#graph canvas")
    _click_node(browser, canvas, canvas.size, node)
    _wait_for(browser, lambda d: d.execute_script("return window.personaGraph.body.data.nodes.length") > before,
              f"{node} to expand")
    browser.switch_to.default_content()
    _shot(browser, tmp_path, "demo-user")
    _no_traceback(browser)
    _click_label(browser, "Run & evaluation")
    _wait_for(browser, lambda d: "HR@10 by user activity" in _body_text(d) and "Catalogue coverage" in _body_text(d),
              "the run's evaluation")
    time.sleep(1)
    _shot(browser, tmp_path, "demo-run")
    _no_traceback(browser)
    _click_label(browser, "Anonymous session")
    box = _wait_for(browser, lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, '[data-testid="stMultiSelect"] input')
                                             if e.is_displayed()), False), "the session item picker")
    box.click()
    box.send_keys(Keys.ENTER)  # the first offered item
    # Streamlit draws the list in steps: wait for the whole of it (ten ranked rows), not its first frame
    _wait_for(browser, lambda d: "Why these items?" in _body_text(d) and _body_text(d).count("#") >= 10,
              "the session's ten recommendations", timeout=120)
    _shot(browser, tmp_path, "demo-session")
    _no_traceback(browser)


def test_unknown_user_in_a_real_browser(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    browser.get(f"{server}/?user=nobody")
    _wait_for(browser, lambda d: "No user with id" in _body_text(d), "the unknown-user message")
    assert "No user with id “nobody” in embedded:" in _body_text(browser)
    _no_traceback(browser)
