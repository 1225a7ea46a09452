"""Fixtures for the page and webcam tests: Debian's Chromium under Selenium. The gateways and the
images they share with the stream and CLI tests are in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def chrome(tmp_path) -> Iterator[Callable[..., object]]:
    """Start headless Chromium with a fresh profile (extra flags per call); all quit at teardown."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromedriver must be installed (make system-deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def start(*extra: str, width: int = 1280, height: int = 900) -> webdriver.Chrome:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        profile = tmp_path / f"profile-{len(drivers)}"
        for flag in (
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", *extra,
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # An explicit driver path keeps Selenium Manager from trying to download one.
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
