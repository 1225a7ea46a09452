"""The detection contract shared by every detector and by the gateway pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Box:
    """A face in pixels of the image given to ``detect``; ``x``, ``y`` is the top-left corner."""

    x: int
    y: int
    width: int
    height: int
    score: float = 1.0

    @property
    def area(self) -> int:
        return self.width * self.height

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x + self.width, other.x + other.width) - max(self.x, other.x))
        iy = max(0, min(self.y + self.height, other.y + other.height) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


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
