"""Cut a face out by its landmarks: eyes level, eyes and mouth where FER-2013's crops have them.

A box-based crop keeps whatever roll and framing the photo had; FER-2013's crops were registered
by their makers, so the model has seen eyes at nearly one place. A similarity transform (rotation
that levels the eyes, then the scale and shift that best put both eye centres and the mouth
centre on FER's, least squares) maps the face straight to the crop, edges replicated as
``crop_faces`` does.

Why it is the default (FACE_ALIGNMENT=landmarks), model v7, detector mtcnn-48, this 2-core
machine while a model trained:

    bench/real_photos.py --no-fer --set FACE_ALIGNMENT=...   (123 real photos)
        none        faces found 1.000   accuracy 0.317   macro-F1 0.295
        landmarks   faces found 1.000   accuracy 0.333   macro-F1 0.311
    bench/detection_bench.py --detectors mtcnn-48 --repeats 1 --alignment ...
                    (150 scenes, 292 pasted FER val faces, seed 7)
        none        recall 0.870   crop acc 0.638   agree with original crop 0.831
        landmarks   recall 0.870   crop acc 0.626   agree with original crop 0.803

Real photos, what users send, gain 2 of 123; the scenes lose 1.2 points (3-4 of 292 faces),
within noise, and their faces are pasted FER crops, framed like FER by construction, so a box
crop is already right there while alignment adds the spread of each face's landmarks around
FER's medians. Detection is the same either way (same recall); aligning costs one small warp.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from .types import Point

Alignment = Literal["landmarks", "none"]

# FER-2013's framing of the landmarks, in units of the crop's side (0 = left/top edge, 1 =
# right/bottom edge): `python bench/fer_landmarks.py` (seed 0, 3000 training crops upscaled 3x,
# MTCNN cascade, ONet score >= 0.95) printed these medians from the 2407 crops that passed;
# interquartile ranges about 0.05 of the side in x and y.
FER_LEFT_EYE = (0.3167, 0.3940)
FER_RIGHT_EYE = (0.6867, 0.3883)
FER_MOUTH = (0.5055, 0.7741)  # midway between the mouth corners


def similarity(landmarks: tuple[Point, ...], size: int) -> np.ndarray:
    """The 2x3 matrix taking image pixels to pixels of a ``size`` crop in FER framing.

    Rotation from the eye line alone, so the eyes come out level (as in FER) even when a turned
    head moves the mouth off the midline; scale and shift from all three points, so a face
    turned sideways, whose eyes close up, is not blown up.
    """
    left, right, _, mouth_l, mouth_r = np.asarray(landmarks, np.float64)
    src = np.stack([left, right, (mouth_l + mouth_r) / 2])
    # Crop pixel centres: a point at fraction u of the side lies at u * size - 0.5.
    dst = np.array([FER_LEFT_EYE, FER_RIGHT_EYE, FER_MOUTH]) * size - 0.5
    angle = np.arctan2(*(dst[1] - dst[0])[::-1]) - np.arctan2(*(src[1] - src[0])[::-1])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a, b = src - src.mean(0), dst - dst.mean(0)
    scale = np.sum((a @ rotation.T) * b) / max(np.sum(a * a), 1e-9)
    scale = max(scale, 1e-6)  # degenerate points (all equal, or mouth above the eyes): no mirror
    linear = scale * rotation
    shift = dst.mean(0) - linear @ src.mean(0)
    return np.hstack([linear, shift[:, None]])


def aligned_crop(gray: np.ndarray, landmarks: tuple[Point, ...], size: int) -> np.ndarray:
    """``size`` x ``size`` uint8 crop of the face whose five MTCNN landmarks are given."""
    matrix = similarity(landmarks, size)
    linear, shift = matrix[:, :2], matrix[:, 2]
    # Source region under the crop (plus a margin for interpolation), clipped to the image, so
    # the replicated border is the image's own edge.
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) - 0.5
    inverse = np.linalg.inv(linear)
    under = (corners - shift) @ inverse.T
    h, w = gray.shape
    x0 = int(np.clip(np.floor(under[:, 0].min()) - 2, 0, w - 1))
    y0 = int(np.clip(np.floor(under[:, 1].min()) - 2, 0, h - 1))
    x1 = int(np.clip(np.ceil(under[:, 0].max()) + 3, x0 + 1, w))
    y1 = int(np.clip(np.ceil(under[:, 1].max()) + 3, y0 + 1, h))
    region = gray[y0:y1, x0:x1]
    # Bilinear warping from a face several times the crop's size would skip most pixels
    # (aliasing the model never saw in FER); shrink by area first, to about the crop's scale.
    factor = max(1.0, 1.0 / np.sqrt(abs(np.linalg.det(linear))))
    if factor > 1.0:
        small = (max(1, round(region.shape[1] / factor)), max(1, round(region.shape[0] / factor)))
        fx, fy = region.shape[1] / small[0], region.shape[0] / small[1]
        region = cv2.resize(region, small, interpolation=cv2.INTER_AREA)
    else:
        fx = fy = 1.0
    # Region pixel q is image pixel (q + 0.5) * f - 0.5 + origin.
    to_image = np.array([[fx, 0.0], [0.0, fy]])
    origin = np.array([x0 + (fx - 1) / 2, y0 + (fy - 1) / 2])
    warp = np.hstack([linear @ to_image, (linear @ origin + shift)[:, None]])
    return cv2.warpAffine(region, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
