"""Image -> faces -> emotions: the one inference path shared by REST, the stream and the CLI.

`analyze(image, detect=..., selector=...)` detects faces on a decoded grayscale image, crops them
the way FER-2013 faces are framed, sends the crops through the batcher and turns probabilities
into per-face results. Detection runs on worker threads (one detector per thread: OpenCV
cascades are not documented as thread-safe), so the event loop only coordinates.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from . import metrics
from .batcher import Batcher
from .errors import ApiError, Timeout
from .rollout_state import RolloutWatcher, Selector, route

if TYPE_CHECKING:
    from .backends.base import Backend


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class FaceResult:
    box: FaceBox
    emotion: str
    confidence: float
    scores: dict[str, float]  # every label, sums to 1


@dataclass(frozen=True)
class AnalysisResult:
    model_name: str
    version: int | None  # the version that answered
    width: int
    height: int
    faces: list[FaceResult]  # largest first


def _clipped(box, width: int, height: int) -> FaceBox:
    """The box as clients draw it: inside the image (the crop itself may use the margin beyond)."""
    x0, y0 = max(0, int(box.x)), max(0, int(box.y))
    x1, y1 = min(width, int(box.x + box.width)), min(height, int(box.y + box.height))
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


class Pipeline:
    def __init__(
        self,
        *,
        backend: Backend,
        batcher: Batcher,
        rollout: RolloutWatcher,
        detector_name: str,
        model_name: str,
        request_timeout_s: float,
        detect_threads: int = 2,
    ) -> None:
        self.backend = backend
        self.batcher = batcher
        self.rollout = rollout
        self.detector_name = detector_name
        self.model_name = model_name
        self.request_timeout_s = request_timeout_s
        self._label_names: tuple[str, ...] | None = None
        self._input_shape: tuple[int, ...] | None = None
        self._local = threading.local()
        self._detect_pool = ThreadPoolExecutor(max_workers=detect_threads, thread_name_prefix="detect")
        # Requests are already detected in parallel, one per pool thread; OpenCV's own worker
        # threads on top only contend for the same cores (MTCNN on OpenCV DNN: 26 ms of CPU per
        # 640x480 image with them, 20 ms without).
        cv2.setNumThreads(1)

    def close(self) -> None:
        self._detect_pool.shutdown(wait=False, cancel_futures=True)

    def check_detector(self) -> None:
        """Build one detector now so that a bad DETECTOR name fails at start-up, not per request."""
        self._detector()

    def _detector(self) -> Any:
        detector = getattr(self._local, "detector", None)
        if detector is None:
            from .faces import make_detector  # lazy: cv2 cascades load only where detection runs

            detector = self._local.detector = make_detector(self.detector_name)
        return detector

    def _detect_and_crop(self, image: np.ndarray, size: int) -> tuple[list[FaceBox], np.ndarray]:
        from .faces import crop_faces

        started = time.perf_counter()
        boxes = sorted(self._detector().detect(image), key=lambda b: b.width * b.height, reverse=True)
        metrics.STAGE_LATENCY.labels("detect").observe(time.perf_counter() - started)
        crops = crop_faces(image, boxes, size)
        height, width = image.shape
        return [_clipped(b, width, height) for b in boxes], crops

    @staticmethod
    def _whole_image(image: np.ndarray, size: int) -> tuple[list[FaceBox], np.ndarray]:
        from .faces import Box, crop_faces

        height, width = image.shape
        # crop_faces squares the box with edge padding, as it does for detected faces.
        crops = crop_faces(image, [Box(0, 0, width, height)], size)
        return [FaceBox(0, 0, width, height)], crops

    async def _model_shape(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        if self._label_names is None or self._input_shape is None:
            description = await self.backend.describe()
            self._label_names, self._input_shape = description.label_names, description.input_shape
        return self._label_names, self._input_shape

    async def analyze(
        self, image: np.ndarray, *, detect: bool = True, selector: Selector | None = None
    ) -> AnalysisResult:
        """Faces and emotions in ``image`` (uint8 [H, W]); raises ApiError subclasses."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                return await self._analyze(image, detect=detect, selector=selector or Selector())
        except TimeoutError:
            raise Timeout(f"the request took longer than {self.request_timeout_s:g}s") from None

    async def _analyze(self, image: np.ndarray, *, detect: bool, selector: Selector) -> AnalysisResult:
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(f"expected a grayscale uint8 [H, W] image, got {image.dtype} {image.shape}")
        height, width = image.shape
        target = self.backend.resolve(route(selector, self.rollout.current()))
        label_names, input_shape = await self._model_shape()
        size = input_shape[0]
        if detect:
            loop = asyncio.get_running_loop()
            with self.batcher.detecting():
                boxes, crops = await loop.run_in_executor(self._detect_pool, self._detect_and_crop, image, size)
        else:
            boxes, crops = self._whole_image(image, size)
        metrics.FACES_PER_IMAGE.observe(len(boxes))
        if not boxes:
            return AnalysisResult(self.model_name, self.backend.known_version(target), width, height, [])
        pixels = crops.reshape(len(crops), *input_shape)
        started = time.perf_counter()
        version_label = str(target.version) if target.version is not None else (target.label or "latest")
        try:
            prediction = await self.batcher.predict(pixels, target)
        except ApiError as exc:
            metrics.VERSION_REQUESTS.labels(version_label, exc.code).inc()
            raise
        version_label = str(prediction.version)
        metrics.VERSION_LATENCY.labels(version_label).observe(time.perf_counter() - started)
        metrics.VERSION_REQUESTS.labels(version_label, "ok").inc()
        faces = [self._face(box, row, label_names) for box, row in zip(boxes, prediction.probabilities, strict=True)]
        return AnalysisResult(self.model_name, prediction.version, width, height, faces)

    @staticmethod
    def _face(box: FaceBox, row: np.ndarray, label_names: tuple[str, ...]) -> FaceResult:
        probs = np.clip(np.asarray(row, dtype=np.float64), 0.0, None)
        probs = probs / probs.sum() if probs.sum() > 0 else np.full(len(probs), 1.0 / len(probs))
        best = int(np.argmax(probs))
        metrics.PREDICTIONS.labels(label_names[best]).inc()
        return FaceResult(
            box=box,
            emotion=label_names[best],
            confidence=float(probs[best]),
            scores={name: float(p) for name, p in zip(label_names, probs, strict=True)},
        )


_active: Pipeline | None = None


def set_active(pipeline: Pipeline | None) -> None:
    global _active
    _active = pipeline


def get_pipeline() -> Pipeline:
    if _active is None:
        raise RuntimeError("the gateway runtime has not been started")
    return _active


async def analyze(image: np.ndarray, *, detect: bool = True, selector: Selector | None = None) -> AnalysisResult:
    """Analyse with the running gateway's pipeline (the one `Runtime.start` installed)."""
    return await get_pipeline().analyze(image, detect=detect, selector=selector)
