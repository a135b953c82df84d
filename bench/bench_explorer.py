"""How fast the explorer answers an analyst, measured in a real headless Chromium (selenium).

Run: ``python bench/bench_explorer.py --store embedded:/tmp/ml.db [--workdir .persona] [--users 1,13,42]``
on a store ``persona train`` wrote (e.g. ML-100K + DBpedia: ``persona ingest movielens … && persona train``).
Starts ``streamlit run`` of the explorer (as ``persona app`` does, bound to 127.0.0.1) and times, from
``driver.get`` until the page is drawn (the Streamlit run finished, the held-out rank shown, and the
neighbourhood graph drawn by vis-network inside its component iframe):

* ``cold_user_s``: the first user page after the server starts (store opened, nothing cached);
* ``warm_user_s``: further users' pages (median and max over ``--users``);
* ``session_first_s``: the first anonymous-session answer (loads the run's models once per server);
* ``session_s``: a session answer once the models are loaded (median over ``--repeats``).

Targets (issue 13): warm ≤ 1.5 s, cold ≤ 4 s, session ≤ 2 s once loaded. Writes
``bench/results/explorer.json`` with the machine, the store's size and the commit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

TARGETS = {"warm_user_s": 1.5, "cold_user_s": 4.0, "session_s": 2.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "persona/app", "persona/cypher"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (+ uncommitted changes in persona/app, persona/cypher)" if dirty else "")


def _driver(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--window-size=1600,1400", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=opts)
    d.set_page_load_timeout(120)
    return d


def _wait(driver: Any, cond: Any, timeout: float = 120.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(cond)


def _idle(driver: Any) -> bool:
    """Streamlit's script run has finished (no "Running…" status widget)."""
    from selenium.webdriver.common.by import By

    return not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')


def _graph_drawn(driver: Any) -> bool:
    from selenium.webdriver.common.by import By

    frames = [f for f in driver.find_elements(By.CSS_SELECTOR, "iframe") if "persona_graph" in (f.get_attribute("src") or "")]
    if not frames:
        return False
    driver.switch_to.frame(frames[0])
    try:
        return bool(driver.execute_script("return !!(window.personaGraph && window.personaGraph.body.data.nodes.length)"))
    finally:
        driver.switch_to.default_content()


def _user_page(driver: Any, url: str, user: str) -> float:
    from selenium.webdriver.common.by import By

    t0 = time.perf_counter()
    driver.get(f"{url}/?user={user}")
    _wait(driver, lambda d: f"User {user}" in d.find_element(By.TAG_NAME, "body").text
          and "Held-out item at test time" in d.find_element(By.TAG_NAME, "body").text and _idle(d) and _graph_drawn(d))
    return time.perf_counter() - t0


def _session(driver: Any, letter: str) -> float:
    """Add one more item to the session (the first one offered) and time the answer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def answer(d: Any) -> str:
        text = d.find_element(By.TAG_NAME, "body").text
        return text.split("Why these items?", 1)[1] if "Why these items?" in text else ""

    before = answer(driver)
    box = next(e for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMultiSelect"] input') if e.is_displayed())
    box.click()
    box.send_keys(letter)  # filter the offered items, so that Enter picks one not yet in the session
    time.sleep(0.3)
    t0 = time.perf_counter()
    box.send_keys(Keys.ENTER)
    # drawn: the reasons below the list changed (a new answer) and Streamlit's run has finished
    _wait(driver, lambda d: (a := answer(d)) != "" and a != before and _idle(d), timeout=120)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="store URI of a trained store")
    ap.add_argument("--workdir", default=None, help="persona-kg workdir of the run's model files (default: ./.persona)")
    ap.add_argument("--users", default="1,13,42,100,200,305,450,600", help="user ids to open (the first one cold)")
    ap.add_argument("--repeats", type=int, default=4, help="session answers timed once the models are loaded")
    args = ap.parse_args()
    from persona.app import streamlit_command
    from persona.kgstore import open_store

    with open_store(args.store, read_only=True) as store:
        size = store.counts()
    users = [u.strip() for u in args.users.split(",") if u.strip()]
    tmp = Path(tempfile.mkdtemp())
    port = _free_port()
    env = dict(os.environ, PERSONA_STORE=args.store)
    if args.workdir:
        env["PERSONA_WORKDIR"] = str(Path(args.workdir).resolve())
    cwd = Path.cwd()
    log = (tmp / "streamlit.log").open("w")
    proc = subprocess.Popen(streamlit_command(port, headless=True), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    driver = None
    try:
        t_start = time.perf_counter()
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
            if proc.poll() is not None or time.perf_counter() - t_start > 120:
                raise SystemExit(f"streamlit did not start:\n{(tmp / 'streamlit.log').read_text()}")
        server_start = time.perf_counter() - t_start
        driver = _driver(tmp / "profile")
        driver.get(f"{url}/_stcore/health")  # start the browser itself outside the timings
        cold = _user_page(driver, url, users[0])
        warm = [_user_page(driver, url, u) for u in users[1:]]
        again = _user_page(driver, url, users[0])
        from selenium.webdriver.common.by import By

        label = next(e for e in driver.find_elements(By.CSS_SELECTOR, "label") if e.text.strip() == "Anonymous session")
        label.click()
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stMultiSelect"] input') and _idle(d))
        try:
            first = _session(driver, "s")
            sessions = [_session(driver, c) for c in "aeiout"[: args.repeats]]
        except Exception:
            driver.save_screenshot(str(tmp / "session-timeout.png"))
            print(f"session timed out; screenshot {tmp / 'session-timeout.png'}; the page shows:\n"
                  + driver.find_element(By.TAG_NAME, "body").text[:3000], file=sys.stderr)
            raise
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    figures = {
        "server_start_s": round(server_start, 2),
        "cold_user_s": round(cold, 2),
        "warm_user_s": {"median": round(statistics.median(warm + [again]), 2), "max": round(max(warm + [again]), 2),
                        "each": [round(x, 2) for x in warm + [again]]},
        "session_first_s": round(first, 2),
        "session_s": {"median": round(statistics.median(sessions), 2), "max": round(max(sessions), 2),
                      "each": [round(x, 2) for x in sessions]},
    }
    met = {
        "cold_user_s": cold <= TARGETS["cold_user_s"],
        "warm_user_s": statistics.median(warm + [again]) <= TARGETS["warm_user_s"],
        "session_s": statistics.median(sessions) <= TARGETS["session_s"],
    }
    out = write_result("explorer", {
        "store": args.store, "data": size, "users": users, "commit": _commit(), "targets": TARGETS, "met": met,
        "how": "real headless Chromium (selenium) against `streamlit run` of persona/app/explorer.py; a page counts "
               "as drawn when Streamlit's run finished, the held-out rank shows and vis-network drew the graph",
        **figures,
    })
    print(out.read_text())


if __name__ == "__main__":
    main()
