"""The Serving backend over a real gRPC channel to the TF Serving test double, against embedded."""

from __future__ import annotations

import pytest

from tests.api.conftest import SERVING_KEYS
from harness.http import assert_error, get, post_image
from harness.images import encode, scene_png, val_faces

HEADERS = {"X-API-Key": SERVING_KEYS[0]}


def test_both_backends_give_the_same_scores(gateway, serving_gateway):
    images = [scene_png(3), scene_png(11)] + [encode(face) for _, face in val_faces(per_class=1)[:3]]
    params = [{}, {}] + [{"detect": "false"}] * 3
    for data, query in zip(images, params, strict=True):
        embedded = post_image(gateway.url, data, params=query).json()
        served = post_image(serving_gateway.url, data, params=query, headers=HEADERS).json()
        assert served["model"] == embedded["model"]
        assert len(served["faces"]) == len(embedded["faces"]) > 0
        for a, b in zip(embedded["faces"], served["faces"], strict=True):
            assert a["box"] == b["box"] and a["emotion"] == b["emotion"]
            assert b["scores"] == pytest.approx(a["scores"], abs=1e-5)
            # The Serving gateway runs with UNCERTAIN_THRESHOLD=1: the same answer, flagged.
            assert b["uncertain"] is True


def test_models_through_serving(serving_gateway):
    body = get(f"{serving_gateway.url}/v1/models", headers=HEADERS).json()
    assert body["backend"] == "serving"
    assert body["input_shape"] == [48, 48, 1]
    assert body["label_names"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert body["versions"] and body["version_labels"]["stable"] == body["versions"][-1]


def test_labels_and_versions_through_serving(serving_gateway):
    face = encode(val_faces(per_class=1)[0][1])
    query = {"detect": "false"}
    newest = get(f"{serving_gateway.url}/v1/models", headers=HEADERS).json()["versions"][-1]
    # The test double was started with `stable` -> newest, as the rollout tool configures Serving.
    pinned = post_image(serving_gateway.url, face, params={**query, "model_label": "stable"}, headers=HEADERS)
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["model"]["version"] == newest
    by_number = post_image(serving_gateway.url, face, params={**query, "model_version": str(newest)}, headers=HEADERS)
    assert by_number.json() == pinned.json()
    for params in ({"model_version": "999"}, {"model_label": "canary"}):
        response = post_image(serving_gateway.url, face, params={**query, **params}, headers=HEADERS)
        assert_error(response, 404, "model_not_found")


def test_serving_scene_matches(serving_gateway):
    response = post_image(serving_gateway.url, scene_png(7), headers=HEADERS)
    assert response.status_code == 200 and response.json()["faces"]
