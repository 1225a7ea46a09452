"""Where face detection runs: worker processes (the default) or threads, off the event loop.

Why processes: MTCNN makes dozens of short OpenCV calls per image with Python steps between
them, and every step needs the GIL that the event loop and the batcher also need. With detection
on threads the gateway kept only 1.6-1.7 of 2 cores busy at concurrency 32 (12-15 % of the
machine idle, while the Haar detector's few long calls kept 1.95 busy); in processes each
detector has its own interpreter. An image costs a pickle of its pixels (300 KB at 640x480,
well under a millisecond) and comes back as boxes and 48x48 crops.

Workers import neither TensorFlow nor the ``mtcnn`` package: MTCNN's networks are ONNX files
(``faces/mtcnn_nets``, run by onnxruntime), so a worker costs the memory of numpy, OpenCV and
onnxruntime, not of TensorFlow.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Literal, get_args

import cv2
import numpy as np

from .errors import DetectorUnavailable
from .faces import Box, make_detector
from .faces.types import Region
from .faces.align import Alignment
from .faces.worker import detect_and_crop, start_worker

log = logging.getLogger(__name__)

DetectIn = Literal["processes", "threads"]


class DetectionPool:
    """``await pool.detect(image, size)`` runs ``faces.worker.detect_and_crop`` on a worker."""

    def __init__(
        self,
        detector_name: str,
        *,
        workers: int,
        where: DetectIn = "processes",
        alignment: Alignment = "none",
        min_face: int | None = None,
    ) -> None:
        self.detector_name = detector_name
        self.min_face = min_face
        if alignment not in get_args(Alignment):
            raise ValueError(f"alignment must be one of {get_args(Alignment)}, got {alignment!r}")
        self.alignment = alignment  # sent with each image: workers keep no per-setting state
        self.workers = workers
        self.where = where
        cv2.setNumThreads(1)
        # Built here, in the parent: a bad DETECTOR name (or a missing graph file) fails at start-up.
        make_detector(detector_name, min_face)
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self.where == "threads":
            return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="detect")
        # spawn, not fork: the parent runs TensorFlow and gRPC threads, which fork would copy
        # mid-flight into the child.
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker,
            initargs=(self.detector_name, os.getpid(), self.min_face),
        )

    async def warm_up(self) -> None:
        """Start every worker now, so the first requests do not pay for their start."""
        blank = np.zeros((48, 48), np.uint8)
        await asyncio.gather(*(self.detect(blank, 48) for _ in range(self.workers)))

    async def detect(
        self, image: np.ndarray, size: int, regions: tuple[Region, ...] | None = None
    ) -> tuple[list[Box], np.ndarray, float]:
        """Faces in ``image``, or only inside ``regions`` of it (see ``detect_and_crop``)."""
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                executor, detect_and_crop, self.detector_name, image, size, self.alignment, self.min_face, regions
            )
        except BrokenProcessPool:
            # A worker died (killed, or crashed inside native code). Replace the pool so the
            # gateway keeps serving; this request fails rather than risk crashing another worker.
            self._replace(executor)
            raise DetectorUnavailable("a face-detection worker stopped; retry the request") from None

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is broken:
                log.error("a face-detection worker stopped; starting a new pool")
                self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
