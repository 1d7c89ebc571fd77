"""The MLflow UI that `ganarena ui` serves, driven by headless Chromium (Debian's `chromium`, via Playwright).

Opens the tiny sweep's experiment (conftest.py ``tiny_sweep``), expands the parent run and checks that
the experiment, the parent run and every child run are shown; saves a screenshot to
test-artifacts/mlflow_ui.png. Run alone with ``pytest -m browser``. No browser is ever downloaded:
a missing ``chromium`` is a failure (`make test` installs it, see scripts/system_deps.sh), not a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SHOT = REPO / "test-artifacts" / "mlflow_ui.png"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("`chromium` is not on PATH: install Debian's package (apt-get install -y chromium; `make test` "
                    "does this as root). The browser check drives that binary and never downloads a browser.")
    return path


@pytest.fixture(scope="module")
def ui(tiny_sweep, tmp_path_factory):
    """`ganarena ui --workdir <the tiny sweep>` on a free 127.0.0.1 port; yields (base URL, workdir, name, its log)."""
    workdir, name, rc, out = tiny_sweep
    assert rc == 0, out[-3000:]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ui", "--workdir", str(workdir),
                                 "--port", str(port)], cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own group: the server's workers stop with it
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # MLflow's server takes ~45 s to come up on a busy 2-core box
        while True:
            assert proc.poll() is None, f"`ganarena ui` exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"`ganarena ui` not answering:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(1)
        yield base, workdir, name, log
    finally:
        # the whole group: MLflow's job consumers outlive a SIGTERM to the server
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass


@pytest.mark.timeout(420)
def test_mlflow_ui_shows_the_sweep_and_its_runs(ui) -> None:
    from mlflow.tracking import MlflowClient
    from playwright.sync_api import expect, sync_playwright

    from pipeline.tracking import ui_link

    chromium = _chromium()
    base, workdir, name, ui_log = ui
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("ganarena.role") == "parent"]
    children = sorted({r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id})
    assert any(n.endswith(" seed 1") for n in children)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            # the link `ganarena ui` prints: training runs (not MLflow 3's GenAI view) with our shared column view
            link = ui_link(base, exp.experiment_id)
            assert link in ui_log.read_text()
            page.goto(link, wait_until="domcontentloaded")
            parent_cell = page.get_by_text(parent.info.run_name, exact=True).first
            expect(parent_cell).to_be_visible(timeout=120_000)
            expect(page.get_by_text(name, exact=True).first).to_be_visible()  # the experiment (breadcrumb, side bar)
            expect(page.get_by_text(f"{len(runs)} matching runs")).to_be_visible()

            close = page.get_by_role("button", name="Close")  # the assistant panel takes a third of the width
            if close.count() and close.first.is_visible():
                close.first.click()
            header = page.locator("[role=columnheader][col-id='attributes.`Run Name`']").first
            box = header.bounding_box()
            if box is not None:  # widen the name column so "... seed 1" is not cut off in the screenshot
                page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
                page.mouse.down()
                page.mouse.move(box["x"] + box["width"] + 160, box["y"] + box["height"] / 2, steps=5)
                page.mouse.up()

            # nested runs are collapsed under their parent: expand it
            row = page.locator("[role=row]", has=page.get_by_text(parent.info.run_name, exact=True)).first
            row.locator("[col-id='attributes.`Run Name`'] button").first.click()
            for child in children:
                expect(page.get_by_text(child, exact=True).first).to_be_visible(timeout=30_000)
            # without any configuration: the primary metric, its best value, the loss and the penalty as columns
            for col in ("metrics.`modes_hq`", "metrics.`best_modes_hq`", "params.`loss.name`", "params.`penalty.name`"):
                expect(page.locator(f"[role=columnheader][col-id='{col}']").first).to_be_attached(timeout=30_000)
            loss_cells = page.locator("[role=gridcell][col-id='params.`loss.name`']")
            assert {loss_cells.nth(i).inner_text().strip() for i in range(loss_cells.count())} & {"ns", "hinge"}
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOT))
        finally:
            browser.close()
    assert SHOT.stat().st_size > 10_000
