"""The Serving backend over a real gRPC channel to the TF Serving test double, against embedded."""

from __future__ import annotations

import httpx
import pytest

from emotion_api.backends import base
from tests.api.conftest import SERVING_KEYS
from tests.utils.http import assert_error, post_image
from tests.utils.images import encode, scene_png, val_faces
from tests.utils.servers import MODEL_DIR

HEADERS = {"X-API-Key": SERVING_KEYS[0]}


def test_signature_constants_match_the_trainer():
    from fer_trainer import signature

    for name in ("SERVING_SIGNATURE", "METADATA_SIGNATURE", "INPUT_KEY", "OUTPUT_KEY", "METADATA_INPUT_KEY",
                 "LABELS_KEY", "INPUT_SHAPE_KEY"):
        assert getattr(base, name) == getattr(signature, name), name


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


def test_models_through_serving(serving_gateway):
    body = httpx.get(f"{serving_gateway.url}/v1/models", headers=HEADERS).json()
    assert body["backend"] == "serving"
    assert body["input_shape"] == [48, 48, 1]
    assert body["label_names"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert body["versions"] and body["version_labels"]["stable"] == body["versions"][-1]


def test_labels_and_versions_through_serving(serving_gateway, fake_serving):
    import grpc
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc  # imports TensorFlow

    _, port = fake_serving
    face = encode(val_faces(per_class=1)[0][1])
    query = {"detect": "false"}
    assert_error(post_image(serving_gateway.url, face, params={**query, "model_version": "999"}, headers=HEADERS),
                 404, "model_not_found")
    assert_error(post_image(serving_gateway.url, face, params={**query, "model_label": "stable"}, headers=HEADERS),
                 404, "model_not_found")
    # Label the served version "stable" the way the rollout tool does, then pin by label.
    version = httpx.get(f"{serving_gateway.url}/v1/models", headers=HEADERS).json()["versions"][-1]
    request = model_management_pb2.ReloadConfigRequest()
    config = request.config.model_config_list.config.add(name="emotion", base_path=str(MODEL_DIR),
                                                          model_platform="tensorflow")
    config.model_version_policy.specific.versions.append(version)
    config.version_labels["stable"] = version
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=60)
    assert reply.status.error_code == 0
    pinned = post_image(serving_gateway.url, face, params={**query, "model_label": "stable"}, headers=HEADERS)
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["model"]["version"] == version


def test_serving_scene_matches(serving_gateway):
    response = post_image(serving_gateway.url, scene_png(7), headers=HEADERS)
    assert response.status_code == 200 and response.json()["faces"]
