"""A real browser drives JupyterLab: notebooks 01 and 04 run, the tau slider moves, a photo is uploaded.

Run it with ``make test-browser`` (it is named so that ``pytest tests`` does not collect it).
It starts JupyterLab from this Python environment on a free localhost port with a random
token, on copies of the two notebooks under ``build/browser/work`` (so nothing the browser
saves touches the committed notebooks), and drives Debian's headless Chromium through its
chromedriver with Selenium (no browser is downloaded). Screenshots go to ``build/browser/``.
Without Chromium the test skips and says how to install it (under ``CI=true`` it fails).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "browser"
NOTEBOOKS = ["01_verification_and_one_shot.ipynb", "04_face_recognition_system.ipynb"]
RUN_TIMEOUT = 420            # seconds for one notebook's "run all" on a loaded 2-core machine
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1300", "--disable-dev-shm-usage"]
# Lab settings for this run: no news or update checks (no network), and every cell kept in the page.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _executable(env: str, *names: str) -> str | None:
    """The program named by environment variable ``env``, else the first of ``names`` on PATH."""
    if os.environ.get(env):
        return shutil.which(os.environ[env])
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def chrome_paths():
    chromium = _executable("CHROMIUM", "chromium", "chromium-browser")
    driver = _executable("CHROMEDRIVER", "chromedriver")
    if not chromium or not driver:
        message = ("the browser test needs Debian's Chromium and its driver: run `sudo apt-get install -y "
                   "chromium chromium-driver` (or set CHROMIUM and CHROMEDRIVER to their paths), then "
                   "`make test-browser`.")
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(message)   # CI installs them (.ci/run)
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(chrome_paths):
    """A JupyterLab server on copies of notebooks 01 and 04; yields (base URL, token)."""
    work = OUT / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / name, work / name)
    home = Path(tempfile.mkdtemp(prefix="facelib-lab-"))
    for name, values in SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    log = (OUT / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.port_retries=0", "--allow-root", "--LabApp.extension_manager=readonly"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start; see {OUT / 'jupyterlab.log'}")
            time.sleep(1)
    yield base, token
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chrome_paths):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = chrome_paths
    profile = tempfile.mkdtemp(prefix="facelib-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(observe, done, timeout: float, what: str, driver):
    """Poll ``observe()`` each second until ``done(seen)``; return what was seen last.

    On timeout, save ``failure.png`` and fail with the state seen last, so that the message says
    what the page showed instead of only what did not happen.
    """
    from selenium.common.exceptions import WebDriverException

    deadline = time.time() + timeout
    while True:
        try:
            seen = observe()
        except WebDriverException as error:     # a page still loading or a redrawn element: report it if it lasts
            seen = f"{type(error).__name__}: {error.msg}"
        else:
            if done(seen):
                return seen
        if time.time() > deadline:
            break
        time.sleep(1)
    driver.save_screenshot(str(OUT / "failure.png"))
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {seen!r} "
                         f"(screenshot {OUT / 'failure.png'})")


# The notebook panel of document arguments[0], looked up among the main area's widgets by its path. Not
# shell.currentWidget, nor any command's notion of the current notebook: those follow the keyboard focus,
# which a headless window may never get (then they stay null although the notebook is open).
_FIND_PANEL = """
const name = arguments[0];
const app = window.jupyterapp;
if (!app || !app.commands.hasCommand('docmanager:open') || !app.commands.hasCommand('notebook:run-all-cells'))
  return {seen: {app: app ? 'commands not registered yet' : 'window.jupyterapp not defined yet'}};
const main = Array.from(app.shell.widgets('main'));
const panel = main.find(w => w.context && w.context.path === name && w.content && w.sessionContext) || null;
const codeCells = () => Array.from(panel.content.model.cells).filter(c => c.type === 'code');
const seen = {main: main.map(w => w.context ? w.context.path : w.title.label),
              current: app.shell.currentWidget ? app.shell.currentWidget.title.label : null};
"""

_STATE = _FIND_PANEL + """
if (!panel) return {seen: seen};
const session = panel.sessionContext.session;
const kernel = session && session.kernel;
const cells = codeCells();
return {seen: seen, panel: panel.id, ready: panel.context.isReady,
        status: kernel ? kernel.status : (session ? 'no kernel' : 'no session'),
        run: (window.facelibRuns || {})[name] || null,
        counts: cells.map(c => c.executionCount),
        errors: cells.flatMap(c => c.outputs.toJSON().filter(o => o.output_type === 'error')
                                    .map(o => o.ename + ': ' + o.evalue))};
"""

# Clear every output and execution count, then run all cells, both on this panel by its id; the run's
# progress is kept in window.facelibRuns[name] for _STATE.
_RUN_ALL = _FIND_PANEL + """
if (!panel) return false;
const args = {widgetId: panel.id, activate: false};
const run = (window.facelibRuns = window.facelibRuns || {})[name] = {state: 'clearing'};
app.commands.execute('notebook:clear-all-cell-outputs', args).then(() => {
  run.uncleared = codeCells().filter(c => c.executionCount !== null).length;
  run.state = 'running';
  return app.commands.execute('notebook:run-all-cells', args);
}).then(ok => { run.state = ok === false ? 'stopped on an error' : 'done'; },
        error => { run.state = 'failed: ' + error; });
return true;
"""

_SHOW_PANEL = _FIND_PANEL + """
if (!panel) return null;
app.shell.activateById(panel.id);    // brings its tab to the front, whether or not the window has focus
return panel.node;
"""


def _state(driver, name: str) -> dict:
    return driver.execute_script(_STATE, name)


def _open_and_run_all(driver, name: str) -> None:
    """Open notebook ``name`` in the page, clear it, run all its cells, and check that each ran without error."""
    _wait(lambda: _state(driver, name), lambda s: "app" not in s["seen"], 180, "JupyterLab to start", driver)
    driver.execute_script("window.jupyterapp.commands.execute('docmanager:open', {path: arguments[0]});", name)
    _wait(lambda: _state(driver, name), lambda s: s.get("ready") and s["status"] == "idle", 180,
          f"{name} to open with an idle kernel", driver)
    assert driver.execute_script(_RUN_ALL, name), f"{name} is no longer open: {_state(driver, name)}"
    state = _wait(lambda: _state(driver, name),
                  lambda s: s.get("run") and s["run"]["state"] not in ("clearing", "running") and s["status"] == "idle",
                  RUN_TIMEOUT, f"{name} to run all cells", driver)
    assert state["run"]["state"] == "done" and not state["errors"], f"{name}: cells raised {state['errors']}: {state}"
    assert state["run"]["uncleared"] == 0, f"{name}: clearing left execution counts: {state}"
    assert state["counts"] and None not in state["counts"], f"{name}: cells did not run: {state['counts']}"


def _panel(driver, name: str):
    """The node of notebook ``name``'s panel, its tab brought to the front."""
    node = driver.execute_script(_SHOW_PANEL, name)
    assert node is not None, f"{name} is not open: {_state(driver, name)}"
    return node


def _no_widget_errors(panel) -> None:
    text = panel.text
    assert "Error displaying widget" not in text and "Error rendering" not in text
    assert not panel.find_elements("css selector", ".jupyter-widgets .jp-RenderedText[data-mime-type*=stderr]")


def _control(driver, panel, selector: str):
    """The VBox of the control in ``panel`` that holds ``selector``, scrolled into view."""
    boxes = [b for b in panel.find_elements("css selector", ".widget-vbox")
             if b.find_elements("css selector", selector)]
    assert len(boxes) == 1, f"expected one control holding {selector}, found {len(boxes)}"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", boxes[0])
    time.sleep(1)
    return boxes[0]


_EXPOSE_FILE_INPUT = """
const click = HTMLInputElement.prototype.click;
HTMLInputElement.prototype.click = function () {
  if (this.type !== 'file') return click.call(this);
  this.id = 'facelib-upload-input';
  this.style.display = 'block';
  document.body.appendChild(this);
};
"""


def _figure_src(box) -> str:
    return box.find_element("css selector", "img").get_attribute("src")


def test_tau_slider_and_photo_upload_in_jupyterlab(lab, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    base, token = lab
    started = time.perf_counter()
    browser.get(f"{base}/lab?token={token}")

    _open_and_run_all(browser, NOTEBOOKS[0])
    panel = _panel(browser, NOTEBOOKS[0])
    box = _control(browser, panel, ".widget-slider")
    text = box.find_element("css selector", ".widget-html")
    assert "tau = 0.60" in text.text and "accuracy" in text.text, text.text
    before_src = _figure_src(box)
    box.screenshot(str(OUT / "01_tau_slider_before.png"))
    handle = box.find_element("css selector", ".noUi-handle")
    ActionChains(browser).drag_and_drop_by_offset(handle, -15, 0).perform()      # move the slider by mouse
    readout = _wait(lambda: box.find_element("css selector", ".widget-readout").text, lambda r: r != "0.60",
                    30, "the slider to move from tau = 0.60 (last seen: its readout)", browser)
    _wait(lambda: {"text": text.text, "figure redrawn": _figure_src(box) != before_src},
          lambda s: f"tau = {readout}" in s["text"] and s["figure redrawn"], 60,
          f"the figure and rates to be redrawn at tau = {readout}", browser)
    assert float(readout) < 0.6 and re.search(r"accuracy [01]\.\d{4}; FAR [01]\.\d{4} .* FRR [01]\.\d{4}", text.text)
    box.screenshot(str(OUT / "01_tau_slider_after.png"))
    _no_widget_errors(panel)
    browser.save_screenshot(str(OUT / "01_page.png"))

    _open_and_run_all(browser, NOTEBOOKS[1])
    panel = _panel(browser, NOTEBOOKS[1])
    box = _control(browser, panel, ".widget-upload")
    text = box.find_element("css selector", ".widget-html")
    example = re.search(r"other photo: (\S+\.jpg)", text.text)
    assert example, f"no example photo named under the upload button: {text.text!r}"
    photo = Path(example.group(1))
    person = photo.parent.name
    assert photo.is_file()
    # The upload button opens its (detached) file input's dialog, which a headless browser cannot use: this
    # page hook puts that same input into the page instead, where chromedriver can choose the file for it.
    browser.execute_script(_EXPOSE_FILE_INPUT)
    box.find_element("css selector", ".widget-upload").click()
    browser.find_element("css selector", "#facelib-upload-input").send_keys(str(photo))
    _wait(lambda: text.text, lambda t: "face 1:" in t, 180,
          "the uploaded photo to be identified (last seen: the text under the button)", browser)
    assert f"face 1: {person} (d = " in text.text, text.text
    assert box.find_element("css selector", "img").get_attribute("src").startswith("blob:")
    box.screenshot(str(OUT / "04_upload_identified.png"))
    _no_widget_errors(panel)
    browser.save_screenshot(str(OUT / "04_page.png"))
    print(f"browser test: {time.perf_counter() - started:.0f} s from loading JupyterLab to the identified upload")
