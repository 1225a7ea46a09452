"""Landmark alignment: MTCNN's landmarks in image pixels, rolled faces levelled, FER framing kept,
Haar boxes cut as before, and FACE_ALIGNMENT reaching the detection workers."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from emotion_api.core.config import Settings
from emotion_api.detection_pool import DetectionPool
from emotion_api.faces import crop_faces
from emotion_api.faces.align import FER_LEFT_EYE, FER_RIGHT_EYE, FER_MOUTH
from harness.scenes import val_face_paths

UPSCALE = 3
PAD = 80


def fer_faces(count: int) -> list[np.ndarray]:
    """``count`` real val faces, spread evenly over the classes."""
    paths = val_face_paths()
    step = len(paths) // count
    return [cv2.imread(str(paths[i * step][0]), cv2.IMREAD_GRAYSCALE) for i in range(count)]


def framed(face: np.ndarray, angle: float = 0.0) -> np.ndarray:
    """The face upscaled 3x, its edges replicated around it, rolled by ``angle`` degrees about its centre."""
    big = cv2.resize(face, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
    image = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    if angle:
        centre = (image.shape[1] / 2 - 0.5, image.shape[0] / 2 - 0.5)
        matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
        image = cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    return image


def largest(detectors, name: str, image: np.ndarray):
    boxes = detectors[name].detect(image)
    assert boxes, "MTCNN should find the face"
    return boxes[0]


def roll(box) -> float:
    """Degrees from the image's horizontal to the line through the eyes."""
    (lx, ly), (rx, ry) = box.landmarks[:2]
    return float(np.degrees(np.arctan2(ry - ly, rx - lx)))


def upright_face(detectors) -> np.ndarray:
    """The first of the sampled val faces that MTCNN finds with its eyes level (some FER faces are
    rolled), and finds again rolled by 20 degrees either way (MTCNN misses some rolled faces)."""
    for face in fer_faces(20):
        found = detectors["default"].detect(framed(face))
        if found and abs(roll(found[0])) < 3 and all(detectors["default"].detect(framed(face, a)) for a in (20, -20)):
            return face
    raise AssertionError("no upright face among the sampled val faces")


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def test_landmarks_are_in_image_pixels_whatever_the_downscale(detectors):
    image = framed(upright_face(detectors))
    # "mtcnn" runs on the image itself; "mtcnn-48" on it downscaled 2.4x: same points.
    full = np.array(largest(detectors, "mtcnn", image).landmarks)
    scaled = np.array(largest(detectors, "mtcnn-48", image).landmarks)
    assert full.shape == (5, 2)
    face_side = 48 * UPSCALE
    assert np.abs(full - scaled).max() < 0.05 * face_side
    left_eye, right_eye, nose, mouth_left, mouth_right = scaled
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_haar_boxes_carry_no_landmarks_and_crop_as_before(detectors):
    image = framed(upright_face(detectors))
    boxes = detectors["haar"].detect(image)
    assert boxes and all(box.landmarks is None for box in boxes)
    assert np.array_equal(crop_faces(image, boxes, alignment="landmarks"), crop_faces(image, boxes))


def test_upright_faces_map_to_fer_framing(detectors):
    """FER faces are in FER framing already, so aligned crops stay about as close to the originals
    as box crops are (some FER faces are themselves rolled, and come out levelled), and their
    landmarks land on FER's positions."""
    from emotion_api.faces.align import similarity

    faces = fer_faces(20)
    aligned_r, box_r = [], []
    for face in faces:
        image = framed(face)
        found = detectors["default"].detect(image)
        if not found:  # a few FER crops are too cut off for MTCNN
            continue
        box = found[0]
        marks = np.array(box.landmarks)
        mapped = np.c_[marks, np.ones(5)] @ similarity(box.landmarks, 48).T
        assert abs(mapped[0, 1] - mapped[1, 1]) < 0.5  # eyes level
        fer_points = np.array([FER_LEFT_EYE, FER_RIGHT_EYE, FER_MOUTH]) * 48 - 0.5
        points = np.stack([mapped[0], mapped[1], (mapped[3] + mapped[4]) / 2])
        assert np.abs(points - fer_points).max() < 4  # least squares over three points: within 4 px
        aligned_r.append(correlation(crop_faces(image, [box], alignment="landmarks")[0], face))
        box_r.append(correlation(crop_faces(image, [box])[0], face))
    assert len(aligned_r) >= 15
    assert np.median(aligned_r) > 0.6
    assert np.median(aligned_r) >= np.median(box_r) - 0.03


@pytest.mark.parametrize("angle", [20.0, -20.0])
def test_a_rolled_face_comes_out_level(detectors, angle):
    face = upright_face(detectors)
    upright = crop_faces(framed(face), [largest(detectors, "default", framed(face))], alignment="landmarks")[0]
    image = framed(face, angle)
    box = largest(detectors, "default", image)
    assert abs(roll(box)) > 15, "the test face should be rolled"
    aligned = crop_faces(image, [box], alignment="landmarks")[0]
    plain = crop_faces(image, [box])[0]
    assert correlation(aligned, upright) > 0.9
    assert correlation(aligned, face) > correlation(plain, face) + 0.1
    # Independently of the landmarks used to align: ONet, asked again on the aligned face, finds
    # the eyes level and where FER keeps them.
    big = crop_faces(image, [box], 48 * UPSCALE, alignment="landmarks")[0]
    again = largest(detectors, "mtcnn", cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE))
    (lx, ly), (rx, ry) = (np.array(p) - PAD for p in again.landmarks[:2])
    assert abs(ly - ry) <= 2 * UPSCALE  # two pixels of the 48x48 crop
    side = 48 * UPSCALE
    assert np.allclose([lx / side, rx / side], [FER_LEFT_EYE[0], FER_RIGHT_EYE[0]], atol=0.05)
    assert abs((ly + ry) / 2 / side - (FER_LEFT_EYE[1] + FER_RIGHT_EYE[1]) / 2) < 0.05
    assert FER_MOUTH[1] > FER_LEFT_EYE[1]


def test_the_setting_is_validated():
    assert Settings(face_alignment="none").face_alignment == "none"
    with pytest.raises(ValidationError, match="face_alignment"):
        Settings(face_alignment="eyes")
    with pytest.raises(ValueError, match="alignment"):
        crop_faces(np.zeros((48, 48), np.uint8), [], alignment="eyes")
    with pytest.raises(ValueError, match="alignment"):
        DetectionPool("haar", workers=1, where="threads", alignment="eyes")


def test_the_setting_reaches_the_worker_processes(detectors):
    image = framed(upright_face(detectors), 20.0)
    crops = {}
    for alignment in ("none", "landmarks"):
        pool = DetectionPool("default", workers=1, where="processes", alignment=alignment)
        try:
            boxes, crops[alignment], _ = asyncio.run(pool.detect(image, 48))
        finally:
            pool.close()
        assert boxes and boxes[0].landmarks is not None
        assert np.array_equal(crops[alignment], crop_faces(image, boxes, alignment=alignment))
    assert not np.array_equal(crops["none"], crops["landmarks"])
