"""A broken model version appearing under a serving embedded gateway: refused, the previous keeps serving."""

from __future__ import annotations

import os
import threading
import time

import pytest
from emotion_contract import layout

from harness.http import get, metric_value, post_image, scrape
from harness.images import scene_png
from harness.servers import MODEL_DIR, Gateway

NEWEST = layout.newest_version(MODEL_DIR)


def _publish(base, version: int, build) -> None:
    """As the trainer does: build in a hidden folder, then rename it into place."""
    staging = base / f".staging-{version}"
    staging.mkdir()
    build(staging)
    os.rename(staging, base / str(version))


def _corrupt(folder) -> None:
    (folder / "saved_model.pb").write_bytes(b"\x08\x01this is not a SavedModel" * 100)
    (folder / "assets").mkdir()
    (folder / "assets" / "labels.txt").write_text("angry\n")


def _five_scores(folder) -> None:
    """A real SavedModel whose serving_default answers 5 scores while it declares 7 labels."""
    import tensorflow as tf

    class Wrong(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 48, 48, 1], tf.uint8, name="pixels")])
        def serve(self, pixels):
            return {"probabilities": tf.fill([tf.shape(pixels)[0], 5], 0.2)}

    module = Wrong()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve.get_concrete_function()})
    (folder / "assets").mkdir(exist_ok=True)
    (folder / "assets" / "labels.txt").write_text("\n".join(["a", "b", "c", "d", "e", "f", "g"]) + "\n")


@pytest.mark.slow
def test_broken_versions_are_refused_while_the_previous_keeps_serving(tmp_path):
    base = tmp_path / "emotion"
    base.mkdir()
    (base / str(NEWEST)).symlink_to(MODEL_DIR / str(NEWEST), target_is_directory=True)
    gateway = Gateway.launch({"MODEL_BASE_PATH": str(base), "MODEL_POLL_S": "0.3", "LOG_LEVEL": "info"}).wait()
    image, answers, stop = scene_png(3), [], threading.Event()

    def load() -> None:
        while not stop.is_set():
            response = post_image(gateway.url, image)
            answers.append((response.status_code, response.json().get("model", {}).get("version")))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        _publish(base, NEWEST + 1, _corrupt)
        _publish(base, NEWEST + 2, _five_scores)
        deadline = time.monotonic() + 60
        while metric_value(scrape(gateway.url), "emotion_model_load_failures_total") < 2:
            assert time.monotonic() < deadline, gateway.process.log_tail()
            time.sleep(0.3)
        time.sleep(1.5)  # several more polls: a refused version is not tried again
        failures = metric_value(scrape(gateway.url), "emotion_model_load_failures_total")
        assert failures == 2
        assert get(f"{gateway.url}/v1/models").json()["versions"] == [NEWEST]
        for broken in (NEWEST + 1, NEWEST + 2):
            pinned = post_image(gateway.url, image, params={"model_version": broken})
            assert pinned.status_code == 404 and pinned.json()["error"]["code"] == "model_not_found"
        log = gateway.process.log_tail(200_000)
        assert f"refused emotion version {NEWEST + 1}" in log and f"refused emotion version {NEWEST + 2}" in log
        # Replaced by a good folder, the version is looked at again and served.
        (base / str(NEWEST + 2)).rename(tmp_path / "wrong")
        os.symlink(MODEL_DIR / str(NEWEST), base / str(NEWEST + 2), target_is_directory=True)
        deadline = time.monotonic() + 60
        while NEWEST + 2 not in get(f"{gateway.url}/v1/models").json()["versions"]:
            assert time.monotonic() < deadline, gateway.process.log_tail()
            time.sleep(0.3)
    finally:
        stop.set()
        worker.join()
        gateway.stop()
    assert answers and all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
    assert {version for _, version in answers} <= {NEWEST, NEWEST + 2}
