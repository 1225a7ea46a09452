"""The detection contract shared by every detector and by the gateway pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np


Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A face in pixels of the image given to ``detect``; ``x``, ``y`` is the top-left corner.

    ``landmarks``: MTCNN's five points (left eye, right eye, nose, mouth left, mouth right, left
    and right as seen in the image) in pixels of the same image, for ``crop_faces`` to align
    with; detectors without a landmark stage (Haar) leave it ``None``.
    """

    x: int
    y: int
    width: int
    height: int
    score: float = 1.0
    landmarks: tuple[Point, ...] | None = None

    @property
    def area(self) -> int:
        return self.width * self.height

    def shifted(self, dx: int, dy: int) -> Box:
        """The same face in an image whose origin is (-dx, -dy) from this one's: a box found in a
        region of a frame, moved into the frame's own pixels."""
        points = None if self.landmarks is None else tuple((px + dx, py + dy) for px, py in self.landmarks)
        return Box(self.x + dx, self.y + dy, self.width, self.height, self.score, points)

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x + self.width, other.x + other.width) - max(self.x, other.x))
        iy = max(0, min(self.y + self.height, other.y + other.height) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Region:
    """Part of an image to search for faces (``box``) and the smallest face worth finding there
    (px; None: the detector's own), for a caller that knows where and how large faces are."""

    box: Box
    smallest_face: int | None = None


@runtime_checkable
class FaceDetector(Protocol):
    name: str

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Faces in ``gray`` (uint8 [H, W]), largest first."""
        ...


def largest_first(boxes: list[Box]) -> list[Box]:
    return sorted(boxes, key=lambda b: (b.area, b.score), reverse=True)


def check_gray(gray: np.ndarray) -> np.ndarray:
    """Detectors take one grayscale uint8 plane; anything else is a caller bug, so fail loudly."""
    if not isinstance(gray, np.ndarray) or gray.dtype != np.uint8 or gray.ndim != 2:
        got = getattr(gray, "dtype", type(gray).__name__), getattr(gray, "shape", None)
        raise ValueError(f"expected a grayscale uint8 [H, W] array, got {got}")
    return np.ascontiguousarray(gray)


def shrink(gray: np.ndarray, factor: float) -> np.ndarray:
    """``gray`` downscaled by ``factor`` (>= 1), each side kept at least 1 px.

    OpenCV rounds a side of 1 px times 1/factor down to 0 and refuses the resize, so without the
    floor an image 1 px wide or tall (any aspect ratio) would crash every downscaling detector.
    """
    return shrink_with_halvings(gray, factor)[0]


def shrink_with_halvings(gray: np.ndarray, factor: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """``shrink(gray, factor)``, and the halvings of ``gray`` it went through (``gray`` first),
    for a caller that needs the image at finer scales too."""
    if factor <= 1.0:
        return gray, [gray]
    height, width = gray.shape
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    # OpenCV's area resize is 3x slower at a fractional factor than at exactly 2 (0.55 against
    # 0.18 ms for 640x480 to 178x133, this machine): halve first while more than 2x remains.
    # Averaging 2x2 blocks, then the rest by area, differs from one area resize by a quarter
    # of a grey level on average.
    halvings = [gray]
    while True:
        h, w = halvings[-1].shape
        if w < 2 * size[0] or h < 2 * size[1] or (h | w) % 2:
            break
        halvings.append(halve(halvings[-1]))
    return cv2.resize(halvings[-1], size, interpolation=cv2.INTER_AREA), halvings


def halve(image: np.ndarray) -> np.ndarray:
    """Each side halved (rounded down) by area: for even sides, each pixel the mean of a 2x2 block."""
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
