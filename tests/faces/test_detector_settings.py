"""The detector settings: the smallest face sought, the default against the benchmark's rule and
the detector it replaced, the per-step profile, and the downscaling every detector starts with."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from emotion_api.core.config import Settings
from emotion_api.detection_pool import DetectionPool
from emotion_api.faces import make_detector, registry
from emotion_api.faces.types import shrink
from harness.scenes import make_scenes


def matched(found, truth) -> int:
    """Faces of ``truth`` that some box of ``found`` overlaps at IoU >= 0.3 (the benchmark's rule)."""
    return sum(any(box.iou(face) >= 0.3 for box in found) for face in truth)


def test_the_smallest_face_sought_is_a_setting(detectors, scenes):
    scene = next(s for s in scenes if matched(detectors["default"].detect(s.image), s.boxes) == len(s.boxes))
    smallest = min(scene.boxes, key=lambda b: b.width)
    small_only = [smallest]
    # Sought from twice its size, it is not found; from the detector's floor, it is.
    assert matched(make_detector("default", min_face=2 * smallest.width).detect(scene.image), small_only) == 0
    assert matched(make_detector("default", min_face=48).detect(scene.image), small_only) == 1


def test_the_setting_is_validated():
    assert Settings(min_face_size=56).min_face_size == 56
    assert Settings().min_face_size is None  # the detector's own
    with pytest.raises(ValidationError, match="min_face_size"):
        Settings(min_face_size=10)
    with pytest.raises(ValueError, match="at least 20"):
        make_detector("default", min_face=12)
    # Haar's scan fixes its own smallest face: the setting is refused, at start-up, not ignored.
    with pytest.raises(ValueError, match="MIN_FACE_SIZE"):
        make_detector("haar", min_face=60)
    with pytest.raises(ValueError, match="MIN_FACE_SIZE"):
        DetectionPool("haar", workers=1, where="threads", min_face=60)


def test_the_pool_detects_with_the_setting():
    scene = make_scenes(1, seed=202)[0]
    image = scene.image
    wide = DetectionPool("default", workers=1, where="threads", min_face=48)
    narrow = DetectionPool("default", workers=1, where="threads", min_face=max(image.shape))
    try:
        found_wide = asyncio.run(wide.detect(image, 48))[0]
        found_narrow = asyncio.run(narrow.detect(image, 48))[0]
    finally:
        wide.close()
        narrow.close()
    assert matched(found_wide, scene.boxes) >= 1
    assert matched(found_narrow, scene.boxes) == 0


def test_the_default_meets_the_rule_and_finds_what_the_old_default_found():
    # `make bench-detect`'s own scenes (seed 7), fewer of them: the default was chosen on all 150
    # (recall 0.90, 0.013 false positives per scene, 0.43 of the old default's CPU; docs/detection.md).
    # Recall is held against the detector it replaced, on the same scenes, rather than to the third
    # decimal: a different CPU can round one borderline face the other way.
    bench_scenes = make_scenes(60, seed=7)
    faces = sum(len(s.boxes) for s in bench_scenes)
    default, old = make_detector("default"), make_detector("mtcnn-48-opencv")
    found = {name: [d.detect(s.image) for s in bench_scenes] for name, d in (("default", default), ("old", old))}
    recall = {k: sum(matched(f, s.boxes) for f, s in zip(v, bench_scenes)) / faces for k, v in found.items()}
    false_positives = sum(len(f) - matched(f, s.boxes) for f, s in zip(found["default"], bench_scenes))
    assert recall["default"] >= recall["old"] - 1 / faces, recall
    assert recall["default"] >= 0.88, recall
    assert false_positives / len(bench_scenes) <= 0.03


def test_the_profile_times_every_step_and_is_off_by_default(scenes):
    detector = make_detector("default")
    cascade = detector.cascade
    assert cascade.profile is None
    cascade.profile = defaultdict(float)
    try:
        for scene in scenes[:3]:
            detector.detect(scene.image)
        steps = dict(cascade.profile)
    finally:
        cascade.profile = None
    for step in ("downscale image", "pyramid resize", "pnet level 0", "pnet boxes and nms", "rnet", "onet"):
        assert any(k.startswith(step) and v > 0 for k, v in steps.items()), (step, steps)
    assert steps["rnet faces in"] >= steps["onet faces in"] >= 1


@pytest.mark.parametrize(
    ("shape", "factor"), [((480, 640), 3.6), ((481, 641), 3.6), ((3000, 4000), 7.5), ((50, 7), 2.4)]
)
def test_downscaling_by_halves_stays_an_area_resize(shape, factor):
    image = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8), (0, 0), 2)
    got = shrink(image, factor)
    size = (max(1, round(shape[1] / factor)), max(1, round(shape[0] / factor)))
    assert got.shape == size[::-1]
    direct = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    assert np.abs(got.astype(int) - direct.astype(int)).mean() < 1.0


def test_the_old_default_is_kept_as_the_baseline():
    assert registry.DEFAULT != "mtcnn-48-opencv"
    assert "mtcnn-48-opencv" in registry.detector_names()
