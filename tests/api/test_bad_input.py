"""Regression tests for inputs that used to get 500 internal or a wrong 200 (issue 18).

Each class was found by probing the real gateway; each now gets a documented 4xx or a correct 200.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from PIL import Image

from harness.http import TIMEOUT, assert_error, post_image
from tests.api.conftest import SERVING_KEYS
from harness.images import encode, scene_png


def _flat(width: int, height: int, mode: str = "L") -> Image.Image:
    return Image.new(mode, (width, height), 128 if mode in ("L", "P") else (128,) * len(mode))


# A side of 1 px (any aspect ratio) made every downscaling detector ask OpenCV for a 0 px image:
# 500 internal. Such an image holds no face: 200 with no faces.
@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 1), (1, 48), (100, 1), (1, 5000), (5000, 1)])
def test_images_one_pixel_wide_or_tall_have_no_faces(gateway, size):
    response = post_image(gateway.url, encode(_flat(*size)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"] == {"width": size[0], "height": size[1]}
    assert body["faces"] == []


@pytest.mark.parametrize("fmt, mode", [("JPEG", "RGB"), ("WEBP", "RGB"), ("GIF", "P"), ("BMP", "RGB")])
def test_one_pixel_images_of_every_format(gateway, fmt, mode):
    response = post_image(gateway.url, encode(_flat(1, 1, mode), fmt), content_type=f"image/{fmt.lower()}")
    assert response.status_code == 200, response.text
    assert response.json()["faces"] == []


@pytest.mark.parametrize("size", [(1, 1), (1, 5000), (5000, 1)])
def test_thin_images_as_precropped_faces_give_one_face(gateway, size):
    response = post_image(gateway.url, encode(_flat(*size)), params={"detect": "false"})
    assert response.status_code == 200, response.text
    (face,) = response.json()["faces"]
    assert face["box"] == {"x": 0, "y": 0, "width": size[0], "height": size[1]}


@pytest.mark.parametrize(
    "body",
    [
        b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # RecursionError in json
        b"[" * 100_000 + b"]" * 100_000,
        b'{"image": 1' + b"0" * 5000 + b"}",  # ValueError: int over 4300 digits
    ],
    ids=["nested-in-object", "nested", "huge-integer"],
)
def test_pathological_json_is_invalid_request(gateway, body):
    response = httpx.post(f"{gateway.url}/v1/emotions", content=body,
                          headers={"content-type": "application/json"}, timeout=TIMEOUT)
    assert_error(response, 422, "invalid_request")


def test_missing_version_is_404_without_faces_too(gateway):
    # It answered 200 and echoed the missing version when the image held no face.
    blank = encode(np.full((64, 64), 128, np.uint8))
    assert_error(post_image(gateway.url, blank, params={"model_version": "999"}), 404, "model_not_found")
    assert_error(post_image(gateway.url, scene_png(1), params={"model_version": "999"}), 404, "model_not_found")


def test_version_beyond_int64_is_invalid_request(gateway):
    # It was echoed as a version (embedded) or overflowed the int64 ModelSpec field (Serving).
    blank = encode(np.full((64, 64), 128, np.uint8))
    assert_error(post_image(gateway.url, blank, params={"model_version": str(2**70)}), 422, "invalid_request")


def test_missing_version_without_faces_on_serving(serving_gateway):
    blank = encode(np.full((64, 64), 128, np.uint8))
    response = post_image(serving_gateway.url, blank, params={"model_version": "999"},
                          headers={"X-API-Key": SERVING_KEYS[0]})
    assert_error(response, 404, "model_not_found")
