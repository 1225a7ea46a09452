"""OpenCV Haar cascade detectors; the cascades ship inside the opencv-python wheel (cv2.data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .framing import Framing
from .nms import nms
from .types import Box, check_gray, largest_first, shrink

CASCADE_DIR = Path(cv2.data.haarcascades)


def load_cascade(name: str) -> cv2.CascadeClassifier:
    path = CASCADE_DIR / f"haarcascade_{name}.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"could not load Haar cascade {path}")
    return cascade


@dataclass(frozen=True)
class CascadeSpec:
    name: str  # file stem after "haarcascade_", e.g. "frontalface_default"
    framing: Framing  # this cascade's box -> FER framing
    mirrored: bool = False  # also run on the flipped image (the profile cascade sees one side only)


class HaarDetector:
    """One or more cascades on an optionally downscaled image, merged by NMS.

    The score of a box is its neighbour count (how many overlapping windows voted for it), which
    is comparable across cascades, unlike the per-cascade stage weights.
    """

    def __init__(
        self,
        cascades: list[CascadeSpec],
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 40,
        downscale: float = 1.0,
        name: str = "haar",
    ) -> None:
        self.name = name
        self._cascades = [(spec, load_cascade(spec.name)) for spec in cascades]
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors
        self._min_size = min_size
        self._downscale = downscale

    def detect(self, gray: np.ndarray) -> list[Box]:
        return largest_first(nms(self.candidates(gray)))

    def candidates(self, gray: np.ndarray) -> list[Box]:
        """Every cascade's FER-framed boxes before merging (a verifier may want them all)."""
        gray = check_gray(gray)
        f = self._downscale
        small = shrink(gray, f)
        min_side = max(20, round(self._min_size / f))
        width = small.shape[1]
        boxes: list[Box] = []
        for spec, cascade in self._cascades:
            views = [(small, False), (cv2.flip(small, 1), True)] if spec.mirrored else [(small, False)]
            for view, flipped in views:
                rects, votes = cascade.detectMultiScale2(
                    view,
                    scaleFactor=self._scale_factor,
                    minNeighbors=self._min_neighbors,
                    minSize=(min_side, min_side),
                )
                for (x, y, w, h), n in zip(rects, np.ravel(votes)):
                    if flipped:
                        x = width - x - w
                    raw = Box(round(x * f), round(y * f), round(w * f), round(h * f), float(n))
                    framing = spec.framing.mirrored() if flipped else spec.framing
                    boxes.append(framing.apply(raw))
        return boxes
