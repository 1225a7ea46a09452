"""/healthz, /readyz, /v1/models and the OpenAPI document."""

from __future__ import annotations

import json

from emotion_contract import layout
from emotion_contract.labels import EMOTIONS

from harness.http import get


def test_health_and_readiness(gateway):
    assert get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    ready = get(f"{gateway.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["backend"] == "embedded"


def test_models(gateway, gateway_model_dir):
    body = get(f"{gateway.url}/v1/models").json()
    on_disk = layout.complete_versions(gateway_model_dir)
    assert body["name"] == "emotion" and body["backend"] == "embedded"
    assert body["versions"][-1] == on_disk[-1]
    assert body["version_labels"] == {"stable": on_disk[-1], "canary": None}
    assert body["canary_weight"] == 0.0
    assert body["input_shape"] == [48, 48, 1]
    assert body["label_names"] == list(EMOTIONS)
    # Each version's key figures come from its own model card, as the trainer wrote it.
    for version in body["versions"]:
        card = json.loads(layout.model_card_path(gateway_model_dir / str(version)).read_text())
        figures = body["cards"][str(version)]
        assert figures["arch"] == card["arch"] and figures["val_accuracy"] == card["val"]["plain"]
    newest = body["cards"][str(on_disk[-1])]
    assert newest["calibration"] in ("temperature", "vector", "top-label") and newest["multiply_adds_per_face"] > 0
    assert (gateway_model_dir / newest["card"]).is_file()


def test_openapi_documents_the_contract(gateway):
    assert "swagger" in get(f"{gateway.url}/docs").text.lower()
    spec = get(f"{gateway.url}/openapi.json").json()
    post = spec["paths"]["/v1/emotions"]["post"]
    assert {"multipart/form-data", "application/json"} <= set(post["requestBody"]["content"])
    assert {p["name"] for p in post["parameters"]} == {"detect", "model_version", "model_label"}
    assert {"200", "400", "413", "415", "422", "429", "503", "504"} <= set(post["responses"])
    assert "/v1/models" in spec["paths"] and "/readyz" in spec["paths"]
    face = spec["components"]["schemas"]["FaceOut"]
    assert "uncertain" in face["required"] and "threshold" in face["properties"]["uncertain"]["description"]
