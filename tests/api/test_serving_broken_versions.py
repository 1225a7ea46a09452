"""A model version TF Serving fails to load, under the Serving backend: pinned requests to it get
404 model_not_found, unpinned ones keep their answers from the versions Serving has, and with no
version available at all the answer is 503 backend_unavailable, not a 404 for a version nobody
asked for (nor when the rollout state names a label Serving lacks). Serving is the gRPC test
double, which reports a failed load as TF Serving does (state END with the error, NOT_FOUND to
Predict) and keeps serving what it has."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from emotion_contract import layout

from harness.http import assert_error, get, metric_value, post_image, scrape
from harness.images import encode, scene_png, val_faces
from harness.servers import MODEL_DIR, Gateway, launch_fake_serving, wait_grpc_ready
from tests.api.test_broken_versions import _corrupt, _publish

NEWEST = layout.newest_version(MODEL_DIR)
# Every version folder under the base path, as a rollout's `specific` list would name them all.
ALL_VERSIONS_CONFIG = """model_config_list {{
  config {{
    name: "emotion"
    base_path: "{base}"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
  }}
}}
"""


def _wait(predicate, timeout_s: float, what: str, process=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout_s}s\n{process.log_tail() if process else ''}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_version_serving_fails_to_load_is_404_when_pinned_and_leaves_the_default_alone(tmp_path):
    base = tmp_path / "emotion"
    base.mkdir()
    _publish(base, NEWEST + 1, _corrupt)  # at first the only version: nothing can be served
    config = tmp_path / "models.config"
    config.write_text(ALL_VERSIONS_CONFIG.format(base=base))
    fake, port = launch_fake_serving(base, extra=["--model-config-file", str(config), "--poll-s", "0.3"])
    gateway = None
    try:
        wait_grpc_ready(fake, port)
        gateway = Gateway.launch({"SERVING_ADDRESS": f"127.0.0.1:{port}", "MODEL_BASE_PATH": str(base)}).wait("/healthz")
        face = encode(val_faces(1)[0][1])

        # Nothing available: the gateway is not ready and says so, for unpinned requests too.
        _wait(lambda: metric_value(scrape(gateway.url), "emotion_model_load_failures_total") == 1, 60,
              "the gateway to see the failed load", gateway.process)
        assert_error(get(f"{gateway.url}/readyz"), 503, "backend_unavailable")
        response = post_image(gateway.url, face, params={"detect": "false"})
        assert_error(response, 503, "backend_unavailable")
        assert response.headers["retry-after"]
        assert_error(get(f"{gateway.url}/v1/models"), 503, "backend_unavailable")

        # A good version appears: it serves, the failed one stays refused.
        (base / str(NEWEST)).symlink_to(MODEL_DIR / str(NEWEST), target_is_directory=True)
        _wait(lambda: get(f"{gateway.url}/readyz").status_code == 200, 120, "readyz 200", fake)
        assert get(f"{gateway.url}/v1/models").json()["versions"] == [NEWEST]
        image = scene_png(3)
        answer = post_image(gateway.url, image)
        assert answer.status_code == 200 and answer.json()["model"]["version"] == NEWEST, answer.text
        assert answer.json()["faces"]
        blank = encode(np.full((120, 160), 127, np.uint8))  # no face: answered without a model call
        for pinned in (post_image(gateway.url, image, params={"model_version": NEWEST + 1}),
                       post_image(gateway.url, face, params={"model_version": NEWEST + 1, "detect": "false"}),
                       post_image(gateway.url, blank, params={"model_version": NEWEST + 1})):
            assert_error(pinned, 404, "model_not_found")

        # Another broken version appears while clients are served: none of them notices.
        answers, stop = [], threading.Event()

        def load() -> None:
            while not stop.is_set():
                response = post_image(gateway.url, image)
                answers.append((response.status_code, response.json().get("model", {}).get("version")))

        client = threading.Thread(target=load)
        client.start()
        try:
            _publish(base, NEWEST + 2, _corrupt)
            _wait(lambda: f"version {NEWEST + 2} failed" in fake.log_tail(100_000), 30, "the failed load", fake)
            _wait(lambda: metric_value(scrape(gateway.url), "emotion_model_load_failures_total") >= 2, 10,
                  "the gateway to count both failed loads", gateway.process)
            time.sleep(1.0)
        finally:
            stop.set()
            client.join()
        assert answers and set(answers) == {(200, NEWEST)}, answers[:5]
        assert_error(post_image(gateway.url, image, params={"model_version": NEWEST + 2}), 404, "model_not_found")
        assert get(f"{gateway.url}/v1/models").json()["versions"] == [NEWEST]
        assert metric_value(scrape(gateway.url), "emotion_model_load_failures_total") == 2  # once each
        log = gateway.process.log_tail(100_000)
        assert f"TF Serving failed to load emotion version {NEWEST + 1}" in log
        assert f"TF Serving failed to load emotion version {NEWEST + 2}" in log

        # A rollout state whose label Serving does not have (its config sets none): unpinned
        # requests, now sent to the label, are the service's trouble; pinned to it, a 404.
        (base / "rollout.json").write_text(json.dumps({"stable": NEWEST}))
        _wait(lambda: post_image(gateway.url, face, params={"detect": "false"}).status_code == 503, 20,
              "unpinned requests to follow the rollout state")
        assert_error(post_image(gateway.url, face, params={"detect": "false"}), 503, "backend_unavailable")
        assert_error(post_image(gateway.url, face, params={"detect": "false", "model_label": "stable"}),
                     404, "model_not_found")
    finally:
        if gateway is not None:
            gateway.stop()
        fake.stop()
