"""crop_faces: shape, dtype, edge padding, and FER framing of the pasted faces."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_api.faces import Box, crop_faces
from harness.scenes import make_scene


def gradient(h: int = 120, w: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx + 2 * yy) % 256).astype(np.uint8)


def test_shape_and_dtype_for_any_size():
    image = gradient()
    boxes = [Box(10, 10, 40, 40), Box(50, 20, 70, 30), Box(0, 0, 160, 120)]
    for size in (48, 64):
        crops = crop_faces(image, boxes, size)
        assert crops.shape == (3, size, size) and crops.dtype == np.uint8


def test_no_boxes_gives_an_empty_batch():
    crops = crop_faces(gradient(), [])
    assert crops.shape == (0, 48, 48) and crops.dtype == np.uint8


def test_inside_box_is_an_exact_resize():
    image = gradient()
    crop = crop_faces(image, [Box(20, 30, 48, 48)])[0]
    assert np.array_equal(crop, image[30:78, 20:68])


def test_border_overhang_repeats_edge_pixels():
    image = gradient()
    # 48x48 square starting 10 px left of and 6 px above the image: no resize, just padding.
    crop = crop_faces(image, [Box(-10, -6, 48, 48)])[0]
    assert np.array_equal(crop[6:, 10:], image[:42, :38])
    assert np.array_equal(crop[6:, :10], np.repeat(image[:42, :1], 10, axis=1))  # left pad = column 0
    assert np.array_equal(crop[:6, 10:], np.repeat(image[:1, :38], 6, axis=0))  # top pad = row 0
    assert np.all(crop[:6, :10] == image[0, 0])


def test_box_wholly_outside_is_still_a_crop():
    crop = crop_faces(gradient(), [Box(500, 500, 30, 30)])[0]
    assert crop.shape == (48, 48) and np.all(crop == gradient()[-1, -1])


def test_non_square_box_is_squared_around_its_centre():
    image = gradient()
    wide, square = crop_faces(image, [Box(40, 50, 48, 24), Box(40, 38, 48, 48)])
    assert np.array_equal(wide, square)


def test_pasted_face_cut_back_out_matches_the_original_crop():
    scene = make_scene(4)
    for crop, face in zip(crop_faces(scene.image, scene.boxes), scene.faces):
        centre = np.abs(crop[6:-6, 6:-6].astype(int) - face[6:-6, 6:-6]).mean()
        assert centre < 6, centre


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.float32)])
def test_rejects_non_grayscale_uint8(bad):
    with pytest.raises(ValueError, match="grayscale uint8"):
        crop_faces(bad, [Box(0, 0, 5, 5)])
