"""Every error code with its status, as JSON, and the service still serving afterwards."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np

from tests.api.conftest import GUARDED_KEYS
from harness.http import assert_error, get, metric_value, post, post_image
from harness.images import encode, scene_png, val_faces

LOAD_KEY = {"X-API-Key": GUARDED_KEYS[2]}


def face_png() -> bytes:
    return encode(val_faces(per_class=1)[3][1])


def test_invalid_image(gateway):
    assert_error(post_image(gateway.url, b"GIF89a but not really"), 400, "invalid_image")
    truncated = encode(np.full((480, 640), 128, np.uint8), "JPEG")[:300]
    assert_error(post_image(gateway.url, truncated, content_type="image/jpeg"), 400, "invalid_image")
    assert_error(post(f"{gateway.url}/v1/emotions", json={"image": "not base64!"}), 400, "invalid_image")


def test_unsupported_media_type(gateway):
    response = post(f"{gateway.url}/v1/emotions", content=b"hello", headers={"content-type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")
    tiff = encode(np.zeros((64, 64), np.uint8), "TIFF")
    assert_error(post_image(gateway.url, tiff, content_type="image/tiff"), 415, "unsupported_media_type")


def test_invalid_request(gateway):
    url = f"{gateway.url}/v1/emotions"
    assert_error(post(url, json={"picture": "x"}), 422, "invalid_request")
    assert_error(post(url, content=b"{not json", headers={"content-type": "application/json"}), 422, "invalid_request")
    assert_error(post(url, files={"other": ("a.png", face_png(), "image/png")}), 422, "invalid_request")
    assert_error(post_image(gateway.url, face_png(), params={"detect": "maybe"}), 422, "invalid_request")
    assert_error(post_image(gateway.url, face_png(), params={"model_version": "0"}), 422, "invalid_request")
    assert_error(post_image(gateway.url, face_png(), params={"model_label": "beta"}), 422, "invalid_request")
    both = {"model_version": "1", "model_label": "stable"}
    assert_error(post_image(gateway.url, face_png(), params=both), 422, "invalid_request")
    assert_error(get(url), 405, "method_not_allowed")
    assert_error(get(f"{gateway.url}/v1/nothing-here"), 404, "not_found")


def test_payload_too_large(guarded):
    headers = {"X-API-Key": GUARDED_KEYS[0]}
    big = np.random.default_rng(1).integers(0, 255, (600, 600), dtype=np.uint8)  # ~360 KB as PNG
    data = encode(big, "PNG")
    assert len(data) > 300_000
    assert_error(post_image(guarded.url, data, headers=headers), 413, "payload_too_large")
    assert_error(
        post(f"{guarded.url}/v1/emotions", content=data, headers={**headers, "content-type": "image/png"}),
        413,
        "payload_too_large",
    )
    encoded = {"image": __import__("base64").b64encode(data).decode()}
    assert_error(post(f"{guarded.url}/v1/emotions", json=encoded, headers=headers), 413, "payload_too_large")


def test_image_too_large(guarded):
    bomb = encode(np.zeros((1001, 1000), np.uint8), "PNG")  # tiny file, over MAX_IMAGE_PIXELS=1e6
    response = post_image(guarded.url, bomb, headers={"X-API-Key": GUARDED_KEYS[0]})
    assert_error(response, 413, "image_too_large")


def test_model_not_found(gateway):
    assert_error(post_image(gateway.url, face_png(), params={"model_version": "999", "detect": "false"}), 404, "model_not_found")
    assert_error(post_image(gateway.url, face_png(), params={"model_label": "canary", "detect": "false"}), 404, "model_not_found")


def test_backend_unavailable(dead_serving):
    assert_error(get(f"{dead_serving.url}/readyz"), 503, "backend_unavailable")
    response = post_image(dead_serving.url, face_png(), params={"detect": "false"})
    assert_error(response, 503, "backend_unavailable")
    assert get(f"{dead_serving.url}/healthz").status_code == 200


async def test_overloaded_and_timeout(guarded):
    """QUEUE_SIZE=2 and a 1 s batching window with a 0.3 s deadline: two crops fill the queue,
    the third request is refused at once, the first two run out of time."""
    data = face_png()
    async with httpx.AsyncClient(base_url=guarded.url, headers=LOAD_KEY, timeout=30) as client:

        async def queue_depth() -> float:
            return metric_value((await client.get("/metrics")).text, "emotion_queue_depth")

        async def wait_depth(expected: float) -> None:
            for _ in range(100):
                if await queue_depth() == expected:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError(f"queue depth never reached {expected}")

        async def send() -> httpx.Response:
            files = {"image": ("face.png", data, "image/png")}
            return await client.post("/v1/emotions", files=files, params={"detect": "false"})

        await wait_depth(0)  # crops left by earlier tests have left the queue
        first = asyncio.create_task(send())
        second = asyncio.create_task(send())
        await wait_depth(2)
        third = await send()
        assert_error(third, 503, "overloaded")
        assert third.headers["retry-after"] == "1"
        for response in (await first, await second):
            assert_error(response, 504, "timeout")
        await wait_depth(0)
        assert (await client.get("/readyz")).status_code == 200
        assert metric_value((await client.get("/metrics")).text, "emotion_overloaded_total") >= 1


def test_service_keeps_serving_after_bad_inputs(gateway):
    for junk in (b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 50, b"\xff\xd8\xff" * 100):
        assert post_image(gateway.url, junk).status_code in (400, 422)
    response = post_image(gateway.url, scene_png(3))
    assert response.status_code == 200 and response.json()["faces"]
