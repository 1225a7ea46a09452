"""The default EMBEDDED_RUNTIME (tflite-int8): a real gateway serving the newest version's int8
copy, beside the main gateway serving the same version's SavedModel (what TF Serving runs)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from emotion_contract import layout

from harness.http import get, post_image
from harness.images import encode, val_faces
from harness.servers import MODEL_DIR, Gateway


@pytest.fixture(scope="module")
def int8_gateway(tmp_path_factory) -> Iterator[Gateway]:
    """Default settings on a base holding the shipped newest version, which has an int8 copy, and
    a copy of it without one as version 1."""
    newest = layout.complete_folders(MODEL_DIR)[-1]
    assert (newest / layout.TFLITE_INT8_FILE).is_file()
    base = tmp_path_factory.mktemp("int8-models") / "emotion"
    base.mkdir()
    (base / newest.name).symlink_to(newest.resolve(), target_is_directory=True)
    shutil.copytree(newest, base / "1", ignore=shutil.ignore_patterns(layout.TFLITE_INT8_FILE))
    server = Gateway.launch({"MODEL_BASE_PATH": str(base), "LOG_LEVEL": "info"})
    try:
        yield server.wait()
    finally:
        server.stop()


def _answers(url: str, faces, **params) -> list[dict]:
    out = []
    for _, face in faces:
        response = post_image(url, encode(face), params={"detect": "false", **params})
        assert response.status_code == 200, response.text
        out.append(response.json())
    return out


def test_the_int8_copy_answers_like_the_saved_model(int8_gateway, gateway):
    assert "ready (tflite-int8)" in int8_gateway.process.log_tail(20000)
    faces = val_faces(per_class=3)
    int8, saved = _answers(int8_gateway.url, faces), _answers(gateway.url, faces)
    assert [a["model"] for a in int8] == [b["model"] for b in saved]
    pairs = [(a["faces"][0], b["faces"][0]) for a, b in zip(int8, saved, strict=True)]
    # Not the same numbers (int8 activations), but the same answer: 99.1 % top-1 agreement on val.
    assert sum(a["emotion"] == b["emotion"] for a, b in pairs) >= len(pairs) - 1
    assert any(a["scores"] != b["scores"] for a, b in pairs)
    for a, b in pairs:
        assert max(abs(a["scores"][k] - b["scores"][k]) for k in b["scores"]) < 0.15
        assert sum(a["scores"].values()) == pytest.approx(1.0, abs=1e-3)


def test_a_version_without_an_int8_copy_is_served_by_its_saved_model(int8_gateway, gateway):
    faces = val_faces(per_class=1)
    without = _answers(int8_gateway.url, faces, model_version="1")  # the newest's weights, no int8 copy
    saved = _answers(gateway.url, faces)
    for a, b in zip(without, saved, strict=True):
        assert a["model"]["version"] == 1
        assert a["faces"][0]["scores"] == pytest.approx(b["faces"][0]["scores"], abs=1e-5)
    newest = layout.complete_folders(MODEL_DIR)[-1].name
    runtimes = get(f"{int8_gateway.url}/v1/models").json()["runtimes"]
    assert runtimes == {"1": "savedmodel", newest: "tflite-int8"}
    assert set(get(f"{gateway.url}/v1/models").json()["runtimes"].values()) == {"savedmodel"}
