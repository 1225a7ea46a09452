"""Fixtures for the page, stream and CLI tests: Debian's Chromium under Selenium, a gateway with
API keys and a rate limit, and images/clips made from real faces."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.scenes import sample_photo_path, val_face_paths
from harness.servers import REPO, Gateway, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PORTS = (18900, 19199)  # this directory's share of loopback ports
ARTIFACTS = REPO / "artifacts" / "web"

# One key per test that counts against a quota, so their windows never interfere.
KEYS = {name: f"web-test-key-{name}" for name in ("page", "stream", "limit", "fps", "query")}
RATE_LIMIT = "4/minute"
KEYED_MAX_FPS = 2
# Every answer of the keyed gateway is flagged uncertain, so the page and stream show that state.
KEYED_UNCERTAIN_THRESHOLD = 1.0


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def keyed_gateway() -> Iterator[Gateway]:
    """A gateway with API keys, a small per-key quota and a low stream frame-rate cap."""
    server = Gateway.launch(
        {"API_KEYS": ",".join(KEYS.values()), "RATE_LIMIT": RATE_LIMIT, "STREAM_MAX_FPS": str(KEYED_MAX_FPS),
         "UNCERTAIN_THRESHOLD": str(KEYED_UNCERTAIN_THRESHOLD)},
        port=free_port(*PORTS),
    )
    try:
        yield server.wait()
    finally:
        server.stop()


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


def faces_by_label() -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = {}
    for path, label in val_face_paths():
        grouped.setdefault(label, []).append(path)
    return grouped


@pytest.fixture(scope="session")
def two_face_png(tmp_path_factory) -> Path:
    """Two real FER-2013 val faces (a happy and a surprised one) upscaled side by side."""
    grouped = faces_by_label()
    image = np.full((360, 640), 150, np.uint8)
    for (label, x) in (("happy", 60), ("surprise", 380)):
        face = cv2.imread(str(grouped[label][0]), cv2.IMREAD_GRAYSCALE)
        image[80:280, x : x + 200] = cv2.resize(face, (200, 200), interpolation=cv2.INTER_CUBIC)
    path = tmp_path_factory.mktemp("images") / "two-faces.png"
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture(scope="session")
def portrait_jpg(tmp_path_factory) -> Path:
    """A real photo of a face (the portrait that ships with matplotlib)."""
    path = tmp_path_factory.mktemp("images") / "portrait.jpg"
    shutil.copy(sample_photo_path(), path)
    return path
