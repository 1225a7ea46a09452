"""Detectors on real faces: composited FER-2013 val faces, a real photo, and face-free images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_api.faces import Box, crop_faces
from harness.scenes import clutter_photos, face_free_image, make_scene, sample_photo_path, write_scene

# Hand-labelled FER-style framing (brow line of the cap to chin) of the face in matplotlib's
# grace_hopper.jpg, the one real photo of a person that ships with the installed packages.
HOPPER_FACE = Box(155, 112, 220, 220)
FAMILIES = ["haar", "default"]


def matches(found: list[Box], truth: list[Box], threshold: float = 0.3) -> list[tuple[Box, int, float]]:
    """Greedy one-to-one IoU matching: (detected box, truth index, iou)."""
    pairs = sorted(((d.iou(t), i, j) for i, d in enumerate(found) for j, t in enumerate(truth)), reverse=True)
    used_d: set[int] = set()
    used_t: set[int] = set()
    out = []
    for iou, i, j in pairs:
        if iou >= threshold and i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
            out.append((found[i], j, iou))
    return out


@pytest.mark.parametrize("name", FAMILIES)
def test_finds_pasted_faces_with_good_iou(detections, scenes, name):
    faces = hits = 0
    ious = []
    for scene, found in zip(scenes, detections(name)):
        pairs = matches(found, scene.boxes)
        faces += len(scene.boxes)
        hits += len(pairs)
        ious += [iou for _, _, iou in pairs]
        areas = [b.area for b in found]
        assert areas == sorted(areas, reverse=True), "largest first"
    assert hits / faces >= 0.55, f"{name}: recall {hits}/{faces}"
    # Boxes are mapped to FER framing, so a hit overlaps the pasted square closely, not barely.
    assert np.mean(ious) >= 0.65, f"{name}: mean IoU {np.mean(ious):.2f}"


def test_default_recall_and_false_positives_on_scenes(detections, scenes):
    faces = sum(len(s.boxes) for s in scenes)
    found = detections("default")
    hits = sum(len(matches(f, s.boxes)) for f, s in zip(found, scenes))
    false = sum(len(f) for f in found) - hits
    assert hits / faces >= 0.75, f"recall {hits}/{faces}"
    assert false <= 1, f"{false} false positives on {len(scenes)} scenes"


def test_default_crops_reproduce_the_fer_framing(detections, scenes):
    """Cutting a detected face with crop_faces comes closest to the original 48x48 FER crop.

    Any mis-framing (a box 25% larger or smaller, or shifted by a fifth of its side) must give
    crops that differ more from the originals than the detector's own boxes do.
    """

    def error(boxes: list[Box]) -> float:
        total = []
        for scene, found in zip(scenes, boxes):
            crops = crop_faces(scene.image, [box for box, _ in found])
            total += [np.abs(crop.astype(int) - scene.faces[j]).mean() for crop, (_, j) in zip(crops, found)]
        return float(np.median(total))

    def reframe(box: Box, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> Box:
        side = round(box.width * scale)
        cx, cy = box.x + box.width / 2 + dx * box.width, box.y + box.height / 2 + dy * box.height
        return Box(round(cx - side / 2), round(cy - side / 2), side, side)

    found = [[(b, j) for b, j, _ in matches(f, s.boxes)] for f, s in zip(detections("default"), scenes)]
    own = error(found)
    for change in ({"scale": 1.25}, {"scale": 0.8}, {"dx": 0.2}, {"dy": 0.2}, {"dy": -0.2}):
        other = error([[(reframe(b, **change), j) for b, j in f] for f in found])
        assert own < other, (change, own, other)
@pytest.mark.parametrize("name", FAMILIES)
def test_real_photo_face(detectors, name):
    photo = cv2.imread(str(sample_photo_path()), cv2.IMREAD_GRAYSCALE)
    found = detectors[name].detect(photo)
    assert len(found) == 1, found
    assert found[0].iou(HOPPER_FACE) >= 0.5, found


def test_default_finds_no_faces_in_face_free_images(detectors):
    images = [face_free_image(seed) for seed in range(4)] + list(clutter_photos())
    assert all(detectors["default"].detect(image) == [] for image in images)


def test_haar_finds_nothing_in_a_smooth_texture(detectors):
    yy, xx = np.mgrid[0:480, 0:640]
    texture = (128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.uint8)
    assert detectors["haar"].detect(texture) == []


def test_detects_in_a_scene_read_back_from_jpeg(detectors, tmp_path):
    scene = make_scene(21, n_faces=1)
    image = cv2.imread(str(write_scene(scene, tmp_path / "scene.jpg")), cv2.IMREAD_GRAYSCALE)
    found = detectors["default"].detect(image)
    assert matches(found, scene.boxes, 0.5), (found, scene.boxes)


def test_large_upload_is_searched_at_its_own_scale(detectors):
    """A 3x upscaled scene (1920x1440) still gives every face, scaled, like the 640x480 one."""
    scene = make_scene(33, n_faces=2)
    big = cv2.resize(scene.image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    truth = [Box(b.x * 3, b.y * 3, b.width * 3, b.height * 3) for b in scene.boxes]
    found = detectors["default"].detect(big)
    assert len(matches(found, truth, 0.5)) == len(truth), (found, truth)
