"""The report in a real browser: headless Chromium, with the network switched off.

Checks the DOM after the page's scripts ran (one table row per class, every image decoded from
a data: URI, no script or console error, sorting works), takes a screenshot, and proves that the
checks can fail (a control page with a script error, a broken image and a network image).

Chromium is installed here (Debian's ``chromium`` package, ``apt-get install -y chromium``) when
it is missing. Without apt the test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from segwise.report import write_report

from .conftest import metrics_csv

OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = _find_chromium()
    if path:
        return path
    apt = shutil.which("apt-get")
    if apt is None:
        _unavailable("chromium is not installed and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*sudo, apt, "install", "-y", "-q", "chromium"]
    proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:  # stale package lists: update once and retry
        subprocess.run([*sudo, apt, "update", "-q"], capture_output=True, text=True, env=env, timeout=900)
        proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    path = _find_chromium()
    if path is None:
        _unavailable(f"chromium could not be installed with apt-get: {proc.stderr.strip()[-300:]}")
    return path  # type: ignore[return-value]


def _run(chromium: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        chromium,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--hide-scrollbars",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        *OFFLINE,
        *args,
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _body(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, dom[:500]
    import html

    return {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag.group(1))}


SORT_BY_IOU = """
<script>
window.addEventListener("load", function () {
  var th = document.querySelectorAll("#class-table thead th")[2];   /* the IoU column */
  th.click();
  var cells = document.querySelectorAll("#class-table tbody tr td:nth-child(3)");
  document.body.setAttribute("data-sorted", JSON.stringify(Array.prototype.map.call(cells, function (c) {
    return c.textContent; })));
});
</script>
"""

CONTROL = """<!DOCTYPE html><html><head><script>
window.__e = []; window.addEventListener("error", function (e) { window.__e.push(e.message || "resource"); }, true);
</script></head><body>
<img src="missing-file.png"><img src="http://example.com/logo.png">
<script>undefinedFunction();</script>
<script>window.addEventListener("load", function () {
  var b = 0; for (var i = 0; i < document.images.length; i++) { if (document.images[i].naturalWidth === 0) b++; }
  document.body.setAttribute("data-broken-images", String(b));
  document.body.setAttribute("data-errors", JSON.stringify(window.__e));
});</script></body></html>"""


@pytest.fixture(scope="module")
def report(case, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report.html"
    comparison = {
        "kind": "segwise.comparison",
        "config": "c.toml",
        "split": "val",
        "seeds": 1,
        "class_names": case["full"]["class_names"],
        "variants": [
            {
                "name": "base",
                "miou": 0.4,
                "pixel_accuracy": 0.9,
                "mean_accuracy": 0.5,
                "iou": [0.5, None, 0.4, 0.3, 0.2, 0.1],
            }
        ],
    }
    return write_report(
        case["full"], out, images=case["images"], run=metrics_csv(out.parent / "run"), comparison=comparison
    )


def test_report_dom_in_headless_chromium_offline(chromium, report, case, tmp_path):
    page = tmp_path / "sorted.html"
    page.write_text(report.read_text().replace("</body>", SORT_BY_IOU + "</body>"))
    proc = _run(chromium, page, tmp_path / "profile", "--dump-dom")
    dom = proc.stdout
    body = _body(dom)
    assert body.get("data-ready") == "1", "the page's load handler did not run"
    assert json.loads(body["data-errors"]) == []
    assert body["data-broken-images"] == "0"
    assert int(body["data-images"]) >= 6 + 8 * 4
    table = re.search(r'<table id="class-table".*?</table>', dom, re.S).group(0)
    assert len(re.findall(r"<tr[ >]", table.split("<tbody>")[1])) == case["full"]["num_classes"]
    shown = json.loads(body["data-sorted"])
    values = [float(v) for v in shown if v != "–"]
    assert values == sorted(values) and shown[len(values) :] == ["–"] * (len(shown) - len(values))
    assert "Uncaught" not in proc.stderr


def test_screenshot(chromium, report, tmp_path):
    shot = tmp_path / "report.png"
    _run(chromium, report, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,4000")
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (4000, 1280)
    assert float(np.std(image)) > 20  # not a blank page
    out = os.environ.get("SEGWISE_REPORT_SCREENSHOT")  # keep it for a human to look at
    if out:
        shutil.copy(shot, out)


def test_the_checks_can_fail(chromium, tmp_path):
    page = tmp_path / "control.html"
    page.write_text(CONTROL)
    body = _body(_run(chromium, page, tmp_path / "profile", "--dump-dom").stdout)
    assert body["data-broken-images"] == "2"  # a missing file and a network image (network is off)
    assert any("undefinedFunction" in e for e in json.loads(body["data-errors"]))
