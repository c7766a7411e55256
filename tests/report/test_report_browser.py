"""The fleet-1b report in a real browser (headless Chromium through selenium): no console error,
every chart drawn, and the headline numbers on the page equal those in summary.json.

Skipped, with the reason, where Chromium, its driver or selenium is missing; CI installs the
Debian packages ``chromium`` and ``chromium-driver`` (see .ci/run).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from planner.report.views import fmt

CHROMIUM = next((p for p in (os.environ.get("PLANNER_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)
DRIVER = os.environ.get("PLANNER_CHROMEDRIVER") or shutil.which("chromedriver")

try:
    import selenium  # noqa: F401
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER and HAVE_SELENIUM),
    reason="no headless browser: needs chromium and chromedriver on PATH (Debian packages "
           "chromium, chromium-driver) and the selenium package")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    except Exception as exc:  # noqa: BLE001 - a browser that cannot start is a skip
        pytest.skip(f"headless Chromium did not start: {str(exc).splitlines()[0]}")
    yield driver
    driver.quit()


def test_fleet_report_in_headless_chromium(runs, fleet_report, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out, _ = fleet_report
    browser.get(out.as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-charts-ready"))
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    charts = browser.find_elements(By.CSS_SELECTOR, "div.chart")
    assert len(charts) >= 8
    assert all(c.find_elements(By.CSS_SELECTOR, "svg.main-svg") for c in charts)

    summary = json.loads((runs["solve"] / "summary.json").read_text())
    section = browser.find_element(By.ID, "r1-headline")
    shown = {e.get_attribute("data-key"): e for e in
             section.find_elements(By.CSS_SELECTOR, "span.figure[data-run='solve']")}
    for key in ("objective_gwh_per_day", "wh_per_query", "peak_power_mw", "queries_per_day",
                "nodes", "mip_gap", "deployments_used", "status"):
        element = shown[key]
        assert json.loads(element.get_attribute("data-value")) == summary[key], key
        assert element.text == (fmt(summary[key]) if key != "mip_gap" else "proven optimal"), key
    assert shown["instance_hash"].text == summary["provenance"]["instance_hash"]
