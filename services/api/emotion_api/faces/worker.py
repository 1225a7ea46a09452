"""What a face-detection worker (process or thread, see ``detection_pool``) runs.

Kept apart from the gateway's web modules so that a worker process imports only numpy, OpenCV
and this package.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import cv2
import numpy as np

from .align import Alignment
from .crop import crop_faces
from .registry import make_detector
from .mtcnn_detector import MTCNNDetector
from .nms import nms
from .types import Box, Region

# One detector per thread or process: OpenCV DNN nets and cascades are not thread-safe.
_local = threading.local()


def _detector(name: str, min_face: int | None = None):
    detectors = getattr(_local, "detectors", None)
    if detectors is None:
        detectors = _local.detectors = {}
    key = (name, min_face)
    if key not in detectors:
        detectors[key] = make_detector(name, min_face)
    return detectors[key]


def detect_and_crop(
    name: str,
    image: np.ndarray,
    size: int,
    alignment: Alignment = "none",
    min_face: int | None = None,
    regions: Sequence[Region] | None = None,
) -> tuple[list[Box], np.ndarray, float]:
    """Boxes (largest first), their ``size`` x ``size`` crops (cut as ``alignment`` says, see
    ``crop_faces``) and the seconds detection took.

    ``regions`` limit the search to boxes inside ``image`` and, for MTCNN detectors, to faces of
    at least each one's ``smallest_face`` (a stream searching where its faces were,
    stream_regions.py); None searches the whole image. Boxes and crops are still in and from the
    whole image, so a crop's margin beyond a region is real picture, not padding.
    """
    started = time.perf_counter()
    detector = _detector(name, min_face)
    if regions is None:
        found = detector.detect(image)
    else:
        found = [box for region in regions for box in _detect_in(detector, image, region)]
        if len(regions) > 1:
            found = nms(found)  # a face near where two regions meet is found in both
    boxes = sorted(found, key=lambda b: b.width * b.height, reverse=True)
    seconds = time.perf_counter() - started
    return boxes, crop_faces(image, boxes, size, alignment=alignment), seconds


def _detect_in(detector, image: np.ndarray, region: Region) -> list[Box]:
    area = region.box
    window = np.ascontiguousarray(image[area.y:area.y + area.height, area.x:area.x + area.width])
    # Only MTCNN can skip pyramid levels for a size floor; other detectors search the window.
    in_window = (detector.detect(window, region.smallest_face) if isinstance(detector, MTCNNDetector)
                 else detector.detect(window))
    return [box.shifted(area.x, area.y) for box in in_window]


PARENT_POLL_S = 1.0


def _exit_with_parent(parent: int) -> None:
    # A worker blocks reading its task queue, whose pipe it also holds open for writing, so it
    # never sees end-of-file when the gateway is killed (SIGKILL, OOM): it would live on as an
    # orphan holding 65 MB. Once the parent is gone the worker is re-parented.
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def start_worker(name: str, parent: int, min_face: int | None = None) -> None:
    """Process initializer: one OpenCV thread, the detector built.

    ``parent`` is the gateway's pid as the gateway saw it: a worker still starting when the
    gateway died must not take its new parent (init) for the gateway.
    """
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    # Requests are already detected in parallel, one per worker; OpenCV's own threads on top
    # would only contend for the same cores.
    cv2.setNumThreads(1)
    _detector(name, min_face)
