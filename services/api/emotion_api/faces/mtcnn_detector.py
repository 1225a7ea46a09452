"""MTCNN (the `mtcnn` package's weights, run by onnxruntime: ``mtcnn_nets``) as a FaceDetector.

onnxruntime is imported only when an MTCNN detector is built, so Haar-only setups stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .framing import Framing
from .types import Box, check_gray, largest_first, shrink_with_halvings

if TYPE_CHECKING:
    from .mtcnn_nets import Runtime


# The cascade looks for faces from 20 px (mtcnn's default) on an image downscaled so that the
# smallest face wanted is 20 px there: one cheap cv2.resize instead of scanning full-size levels.
MTCNN_MIN_FACE = 20


class MTCNNDetector:
    """The full P/R/O-Net cascade on an image downscaled so the smallest face sought is 20 px.

    Cost grows with the pixels PNet scans, so with the square of 1 / (smallest face). That face
    is ``min_face_size`` px, or ``min_face_fraction`` of the image's shorter side if larger, so a
    40 MP upload costs about what a webcam frame does instead of seconds.
    """

    def __init__(
        self,
        *,
        framing: Framing,
        min_face_size: int = MTCNN_MIN_FACE,
        min_face_fraction: float = 0.0,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
        name: str = "mtcnn",
        runtime: Runtime = "onnxruntime",
        refined: bool = True,
    ) -> None:
        self.name = name
        from .mtcnn_cascade import MTCNNCascade

        if min_face_size < MTCNN_MIN_FACE:
            raise ValueError(f"the smallest face sought must be at least {MTCNN_MIN_FACE} px, got {min_face_size}")
        self._cascade = MTCNNCascade(runtime)
        self._framing = framing
        self._min_face_size = min_face_size
        self._min_face_fraction = min_face_fraction
        self._thresholds = thresholds
        # Two departures from the mtcnn library's cascade (see MTCNNCascade.detect_with_landmarks):
        # ONet on the full-resolution faces, and a last pyramid level for faces that fill the frame.
        self._refined = refined

    @property
    def cascade(self):
        """The P/R/O-Net cascade; a profiler sets its ``profile`` to time each step."""
        return self._cascade

    def detect(self, gray: np.ndarray, smallest_face: int | None = None) -> list[Box]:
        """Faces in ``gray``, of at least the detector's smallest size, or ``smallest_face`` if larger."""
        gray = check_gray(gray)
        smallest = max(self._min_face_size, self._min_face_fraction * min(gray.shape), smallest_face or 0)
        f = max(1.0, smallest / MTCNN_MIN_FACE)
        with self._cascade.timed("downscale image"):
            small, halvings = shrink_with_halvings(gray, f)
        # ONet looks at the faces in the full image: it places the landmarks that alignment uses,
        # and on the image downscaled for PNet an 80 px face (the default's smallest) is 20 px.
        found, points = self._cascade.detect_with_landmarks(
            small, MTCNN_MIN_FACE, self._thresholds,
            detail=halvings if self._refined and small is not gray else None,
            whole_frame_level=self._refined,
        )
        # Landmarks are pixel centres: centre u of the downscaled image covers (u + 0.5) * f - 0.5.
        points = (points + 0.5) * f - 0.5
        boxes = []
        for (x1, y1, x2, y2, score), marks in zip(found, points):
            # mtcnn's own rounding of its corner boxes to x, y, width, height
            x, y, w, h = np.round([x1, y1, x2 - x1, y2 - y1]).astype(int)
            landmarks = tuple((float(px), float(py)) for px, py in marks)
            raw = Box(round(x * f), round(y * f), round(w * f), round(h * f), float(score), landmarks)
            boxes.append(self._framing.apply(raw))
        return largest_first(boxes)
