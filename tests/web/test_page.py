"""The page at / in headless Chromium, against a real gateway: photos, errors, keys, phone widths."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from emotion_contract.labels import EMOTIONS
from harness.http import post_image
from tests.conftest import KEYS, RATE_LIMIT

pytestmark = pytest.mark.slow


def wait(driver: WebDriver, condition, timeout: float = 30.0):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def upload(driver: WebDriver, path: Path) -> None:
    """Choose ``path`` in the file input and wait until the page has the gateway's answer."""
    answered = driver.find_element(By.ID, "photo-status").get_attribute("data-answered") or "0"
    driver.find_element(By.ID, "file-input").send_keys(str(path))
    wait(driver, lambda d: d.find_element(By.ID, "photo-status").get_attribute("data-answered") == str(int(answered) + 1))


def message(driver: WebDriver) -> tuple[str, str]:
    """(code, text) of the page's message box once it shows."""
    box = wait(driver, lambda d: (el := d.find_element(By.ID, "message")).is_displayed() and el)
    return box.get_attribute("data-code"), box.text


def boxes(driver: WebDriver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#photo-overlay .face-box")


def bars(driver: WebDriver) -> dict[str, float]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#photo-bars .bar")
    return {row.get_attribute("data-emotion"): float(row.get_attribute("data-value")) for row in rows}


def console_errors(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_photo_shows_a_box_per_face_with_labels_and_the_seven_bars(gateway, chrome, two_face_png, portrait_jpg, artifacts):
    expected = post_image(gateway.url, two_face_png.read_bytes()).json()
    assert len(expected["faces"]) == 2, "both pasted faces must be detected for this test to mean anything"
    driver = chrome()
    driver.get(gateway.url + "/")
    assert driver.title == "Emotion recognition"
    upload(driver, two_face_png)
    found = boxes(driver)
    assert len(found) == 2

    for element, face in zip(found, expected["faces"]):
        assert element.get_attribute("data-emotion") == face["emotion"]
        uncertain = " · uncertain" if face["uncertain"] else ""
        assert element.text == f"{face['emotion']} {round(100 * face['confidence'])}%{uncertain}"
        assert element.get_attribute("data-uncertain") == str(face["uncertain"]).lower()
        # The box sits where the API put it, in percent of the shown image.
        left = float(element.value_of_css_property("left").removesuffix("px"))
        stage_width = driver.find_element(By.ID, "photo").size["width"]
        assert abs(left / stage_width - face["box"]["x"] / expected["image"]["width"]) < 0.01

    shown = bars(driver)
    assert list(shown) == list(EMOTIONS)
    for label in EMOTIONS:
        assert shown[label] == pytest.approx(expected["faces"][0]["scores"][label], abs=1e-3)
    assert driver.find_element(By.ID, "model-version").text == f"model v{expected['model']['version']}"

    # Selecting the other face shows its scores.
    found[1].click()
    wait(driver, lambda d: "selected" in boxes(d)[1].get_attribute("class"))
    for label in EMOTIONS:
        assert bars(driver)[label] == pytest.approx(expected["faces"][1]["scores"][label], abs=1e-3)
    driver.save_screenshot(str(artifacts / "photo-two-faces.png"))

    upload(driver, portrait_jpg)
    assert len(boxes(driver)) == 1
    assert "1 face" in driver.find_element(By.ID, "photo-status").text
    driver.save_screenshot(str(artifacts / "photo.png"))
    assert console_errors(driver) == []


def test_the_page_takes_the_label_names_from_the_gateway(gateway, chrome):
    """The bars follow GET /v1/models' label_names; the page keeps no list of its own."""
    served = httpx.get(gateway.url + "/v1/models", timeout=10).json()["label_names"]
    driver = chrome()
    driver.get(gateway.url + "/")
    # The app's own module instance: an import of the same URL returns it. {} has no scores, so
    # the answer is the gateway's list once loaded, and [] before.
    loaded = """const done = arguments[arguments.length - 1];
                import("/static/api.js").then((api) => done(api.labelOrder({})));"""
    wait(driver, lambda d: d.execute_async_script(loaded) == served)
    for module in ("app", "api", "ui", "photo", "webcam"):
        assert "happy" not in httpx.get(f"{gateway.url}/static/{module}.js").text, module


def test_no_face_and_bad_files_get_clear_messages(gateway, chrome, tmp_path):
    driver = chrome()
    driver.get(gateway.url + "/")
    blank = tmp_path / "blank.png"
    blank.write_bytes(_png_of_gray())
    upload(driver, blank)
    code, text = message(driver)
    assert code == "no_faces" and "No face" in text

    not_image = tmp_path / "notes.jpg"
    not_image.write_text("this is not an image")
    upload(driver, not_image)
    code, text = message(driver)
    assert code == "invalid_image" and "could not be read as an image" in text

    tiff = tmp_path / "scan.tiff"
    from PIL import Image

    Image.new("L", (64, 64), 128).save(tiff)
    upload(driver, tiff)
    code, text = message(driver)
    assert code == "unsupported_media_type" and "not supported" in text


def _png_of_gray() -> bytes:
    import cv2
    import numpy as np

    ok, data = cv2.imencode(".png", np.full((240, 320), 200, np.uint8))
    assert ok
    return data.tobytes()


def test_api_key_field_and_rate_limit_messages(keyed_gateway, chrome, portrait_jpg, artifacts):
    driver = chrome()
    driver.get(keyed_gateway.url + "/")
    upload(driver, portrait_jpg)
    code, text = message(driver)
    assert code == "unauthorized" and "API key" in text

    driver.find_element(By.ID, "api-key").send_keys(KEYS["page"])
    quota = int(RATE_LIMIT.split("/")[0])
    for _ in range(quota):
        upload(driver, portrait_jpg)
        assert len(boxes(driver)) == 1 and not driver.find_element(By.ID, "message").is_displayed()
        # The page's GET /v1/models was refused (no key yet): the bars follow the scores' own labels.
        assert list(bars(driver)) == list(EMOTIONS)
    # This gateway flags every answer uncertain (UNCERTAIN_THRESHOLD=1): drawn dashed and labelled so.
    (box,) = boxes(driver)
    assert "uncertain" in box.get_attribute("class").split() and box.get_attribute("data-uncertain") == "true"
    assert box.value_of_css_property("border-top-style") == "dashed"
    assert box.text.endswith("· uncertain")
    driver.save_screenshot(str(artifacts / "uncertain-face.png"))
    upload(driver, portrait_jpg)
    code, text = message(driver)
    assert code == "rate_limited"
    assert "Too many requests" in text and re.search(r"retry in \d+ s", text)
    driver.save_screenshot(str(artifacts / "rate-limited.png"))
    # The key survives a reload (kept in this browser only).
    driver.refresh()
    assert driver.find_element(By.ID, "api-key").get_attribute("value") == KEYS["page"]


def test_phone_width_has_no_horizontal_scroll(gateway, chrome, portrait_jpg, artifacts):
    driver = chrome()
    # Headless windows stop at 500 px; emulate the phone's viewport instead (as devtools does).
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    driver.get(gateway.url + "/")
    assert driver.execute_script("return window.innerWidth") == 390
    upload(driver, portrait_jpg)
    assert len(boxes(driver)) == 1
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    # Image and scores stack: the scores card starts below the photo.
    photo = driver.find_element(By.ID, "photo-stage").rect
    side = driver.find_element(By.CSS_SELECTOR, "#panel-photo .side").rect
    assert side["y"] >= photo["y"] + photo["height"]
    driver.save_screenshot(str(artifacts / "photo-phone.png"))


def test_every_asset_comes_from_the_gateway(gateway):
    page = httpx.get(gateway.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    pending = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/static/app.js", "/static/style.css"} <= set(pending)
    fetched = set()
    while pending:  # follow the ES module imports too
        asset = pending.pop()
        assert not re.match(r"^(https?:)?//", asset), f"external asset {asset}"
        if not asset.startswith("/") or asset in fetched:
            continue
        fetched.add(asset)
        body = httpx.get(gateway.url + asset)
        assert body.status_code == 200, asset
        assert not re.search(r"https?://|@import|url\(\s*['\"]?//", body.text), f"{asset} reaches outside"
        pending += ["/static/" + name for name in re.findall(r'from "\./([\w-]+\.js)"', body.text)]
    assert {"/static/api.js", "/static/ui.js", "/static/photo.js", "/static/webcam.js"} <= fetched
    missing = httpx.get(gateway.url + "/static/..%2Fcore%2Fconfig.py")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
