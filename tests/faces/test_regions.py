"""Searching part of a frame (a stream between whole-frame searches, stream_regions.py): the worker
finds the same faces there as in the whole frame, in the frame's own pixels."""

from __future__ import annotations

import numpy as np

from emotion_api.faces.types import Box, Region
from emotion_api.faces.worker import detect_and_crop
from emotion_api.stream_regions import widened

DEFAULT = "default"


def around(box: Box, image: np.ndarray, margin: float = 0.35, floor: int | None = None) -> Region:
    x0, y0, x1, y1 = widened(box, margin, image.shape[1], image.shape[0])
    return Region(Box(x0, y0, x1 - x0, y1 - y0), floor)


def best_match(box: Box, boxes: list[Box]) -> tuple[float, Box | None]:
    return max(((box.iou(b), b) for b in boxes), key=lambda p: p[0], default=(0.0, None))


def test_a_region_around_each_face_finds_it_where_the_whole_frame_does(scenes):
    # Not every face: a window has its own pyramid, so a face the whole frame's pyramid only just
    # caught can be missed (then the stream searches the next frame whole, stream_regions.py).
    whole_faces = refound = 0
    for scene in scenes:
        whole, _, _ = detect_and_crop(DEFAULT, scene.image, 48, "landmarks")
        regions = tuple(around(b, scene.image, floor=int(0.6 * b.width)) for b in whole)
        if not regions:
            continue
        found, crops, _ = detect_and_crop(DEFAULT, scene.image, 48, "landmarks", regions=regions)
        assert crops.shape == (len(found), 48, 48)
        for box in whole:
            overlap, match = best_match(box, found)
            if overlap < 0.5:
                continue
            # Landmarks come back in the frame's pixels, not the region's (whose origin is 100+ px
            # away); ONet placing them from another crop moves them by a few px, up to a tenth of
            # the face on average.
            gap = np.linalg.norm(np.array(box.landmarks) - np.array(match.landmarks), axis=1)
            assert gap.mean() <= 0.12 * box.width and gap.max() <= 0.25 * box.width
            refound += 1
        whole_faces += len(whole)
    assert whole_faces >= 10 and refound >= 0.85 * whole_faces


def test_faces_outside_the_regions_or_under_the_size_floor_are_not_searched(scenes):
    scene = next(s for s in scenes if len(s.boxes) >= 2)
    first, second = sorted(scene.boxes, key=lambda b: b.area, reverse=True)[:2]
    found, _, _ = detect_and_crop(DEFAULT, scene.image, 48, "landmarks", regions=(around(first, scene.image, 0.1),))
    assert best_match(first, found)[0] >= 0.3 and best_match(second, found)[0] < 0.3

    floor = int(1.6 * first.width)  # bigger than the face itself
    found, _, _ = detect_and_crop(DEFAULT, scene.image, 48, "landmarks",
                                  regions=(around(first, scene.image, 0.1, floor),))
    assert best_match(first, found)[0] < 0.3


def test_detectors_without_a_size_floor_search_the_region_too(scenes):
    scene = scenes[0]
    truth = max(scene.boxes, key=lambda b: b.area)
    region = around(truth, scene.image, 0.35, floor=10 * truth.width)  # the floor is not Haar's to use
    found, _, _ = detect_and_crop("haar", scene.image, 48, "none", regions=(region,))
    inside = region.box
    assert all(inside.x <= b.x and b.x + b.width <= inside.x + inside.width for b in found)
