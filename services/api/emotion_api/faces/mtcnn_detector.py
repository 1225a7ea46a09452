"""MTCNN (the `mtcnn` package, weights shipped in the wheel) as a FaceDetector.

TensorFlow is imported only when an MTCNN detector is built, so Haar-only setups stay light.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .framing import Framing
from .types import Box, check_gray, largest_first


# mtcnn 1.0.0 sizes its image pyramid as if min_face_size were 12, so a larger value makes the
# last levels smaller than PNet's 12x12 window and the whole call fails (returns no faces).
# Asking it for 20 px faces (its default, which is safe) on an image we downscale ourselves
# gives the same minimum face size without that bug.
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
    ) -> None:
        self.name = name
        self._mtcnn = shared_mtcnn()
        self._framing = framing
        self._min_face_size = min_face_size
        self._min_face_fraction = min_face_fraction
        self._thresholds = thresholds

    def detect(self, gray: np.ndarray) -> list[Box]:
        gray = check_gray(gray)
        smallest = max(self._min_face_size, self._min_face_fraction * min(gray.shape))
        f = max(1.0, smallest / MTCNN_MIN_FACE)
        small = gray if f == 1.0 else cv2.resize(gray, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_AREA)
        rgb = np.repeat(small[:, :, None], 3, axis=2)
        t_p, t_r, t_o = self._thresholds
        found = self._mtcnn.detect_faces(
            rgb, min_face_size=MTCNN_MIN_FACE, threshold_pnet=t_p, threshold_rnet=t_r, threshold_onet=t_o
        )
        boxes = []
        for face in found:
            x, y, w, h = face["box"]
            raw = Box(round(x * f), round(y * f), round(w * f), round(h * f), float(face["confidence"]))
            boxes.append(self._framing.apply(raw))
        return largest_first(boxes)


# Input shapes of PNet (any image size), RNet and ONet (fixed patches).
_STAGE_INPUTS = {1: [None, None, None, 3], 2: [None, 24, 24, 3], 3: [None, 48, 48, 3]}


_shared = None
_shared_lock = threading.Lock()


def shared_mtcnn():
    """One MTCNN per process, its networks run as traced graphs instead of eager Keras calls.

    mtcnn 1.0.0 calls its Keras models eagerly, once per pyramid level and stage; the per-call
    overhead is larger than the networks themselves (about 2.5x the CPU time on 640x480).
    The stages keep their model in ``_model`` (pinned mtcnn==1.0.0), which is swapped here.
    The stages hold no per-call state and graphs may run from several threads at once, so every
    detector (the gateway builds one per worker thread) shares these weights and traces.
    """
    global _shared
    with _shared_lock:  # worker threads build their detectors concurrently at start-up
        if _shared is None:
            from mtcnn import MTCNN

            mtcnn = MTCNN(stages="face_and_landmarks_detection", device="CPU:0")
            for stage in mtcnn.stages:
                stage._model = _CompiledStage(stage.model, _STAGE_INPUTS[stage.id])
            _shared = mtcnn
        return _shared


class _CompiledStage:
    def __init__(self, model, shape: list[int | None]) -> None:
        import tensorflow as tf

        self._tf = tf
        signature = [tf.TensorSpec(shape, tf.float32)]
        self._fn = tf.function(model.call, input_signature=signature, reduce_retracing=True)
        # Trace now, so the first request does not pay for it (about a second per stage).
        self._fn(tf.zeros([1, *(d or 12 for d in shape[1:])], tf.float32))

    def __call__(self, batch):
        """Same outputs as the Keras model: PNet/RNet (boxes, scores), ONet (boxes, landmarks, scores)."""
        if batch.shape[0] == 0:
            # mtcnn treats InvalidArgumentError as "no faces"; raising it here skips running an
            # empty batch, which TensorFlow would also reject but only after logging an error.
            raise self._tf.errors.InvalidArgumentError(None, None, "no face proposals")
        return self._fn(batch)
