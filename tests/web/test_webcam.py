"""Webcam mode with Chromium's fake camera playing a clip made from a real face photo."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness.media import jittered_clip, portrait, write_y4m

pytestmark = pytest.mark.slow


def test_live_overlay_follows_the_face_and_shows_fps(gateway, chrome, tmp_path, artifacts):
    clip = write_y4m(jittered_clip(portrait(640, 480), 20, shift=20, noise=6), tmp_path / "camera.y4m", fps=10)
    driver = chrome(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
        "--autoplay-policy=no-user-gesture-required",
    )
    driver.get(gateway.url + "/")
    driver.find_element(By.ID, "tab-webcam").click()
    driver.find_element(By.ID, "cam-toggle").click()
    wait = WebDriverWait(driver, 60, poll_frequency=0.05)
    overlay = driver.find_element(By.ID, "cam-overlay")

    def frame() -> int:
        return int(overlay.get_attribute("data-frame") or -1)

    def face_state() -> tuple[str, str, str] | None:
        faces = overlay.find_elements(By.CSS_SELECTOR, ".face-box")
        if not faces:
            return None
        return faces[0].get_attribute("data-track-id"), faces[0].get_attribute("style"), faces[0].text

    wait.until(lambda d: face_state() is not None)
    seen = {}
    # Collect the overlay over several answered frames: the face moves in the clip, so the box must too.
    wait.until(lambda d: (state := face_state()) is not None and seen.setdefault(frame(), state) and len(seen) >= 5)
    track_ids = {state[0] for state in seen.values()}
    positions = {state[1] for state in seen.values()}
    assert len(track_ids) == 1, f"one face, one track: {track_ids}"
    assert len(positions) > 1, "the box did not move with the face"
    assert all(state[2].split()[0] in {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
               for state in seen.values())
    fps = float(driver.find_element(By.ID, "cam-fps").text)
    assert fps > 0.5
    assert int(driver.find_element(By.ID, "cam-latency").text) > 0
    bars = driver.find_elements(By.CSS_SELECTOR, "#cam-bars .bar")
    assert [b.get_attribute("data-emotion") for b in bars] == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    driver.save_screenshot(str(artifacts / "webcam.png"))

    driver.find_element(By.ID, "cam-toggle").click()
    wait.until(lambda d: not overlay.find_elements(By.CSS_SELECTOR, ".face-box"))
    assert driver.find_element(By.ID, "cam-toggle").text == "Start camera"
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
