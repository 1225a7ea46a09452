"""Image -> faces -> emotions: the one inference path shared by REST, the stream and the CLI.

`analyze(image, detect=..., selector=...)` detects faces on a decoded grayscale image, crops them
the way FER-2013 faces are framed, sends the crops through the batcher and turns probabilities
into per-face results. Detection runs in worker processes or threads (``detection_pool``), so
the event loop only coordinates. `analyze_upload(data, ...)` is the path of client bytes (REST and
the stream): admitted first (admission.py: refused at once when too many images are ahead of it
in decoding and detection), then decoded and analysed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from starlette.concurrency import run_in_threadpool

from . import metrics
from .admission import Admission, Slot
from .batcher import Batcher
from .detection_pool import DetectIn, DetectionPool
from .errors import ApiError, BackendUnavailable, ModelNotFound, Timeout
from .faces.align import Alignment
from .faces.types import Region, check_gray
from .image_decode import decode_image
from .rollout_state import RolloutWatcher, Selector, route
from .uncertain import is_uncertain

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
    uncertain: bool = False  # confidence below the uncertain threshold (uncertain.py)


@dataclass(frozen=True)
class AnalysisResult:
    model_name: str
    version: int | None  # the version that answered
    width: int
    height: int
    faces: list[FaceResult]  # largest first
    searched: tuple[FaceBox, ...] | None = None  # the regions searched for faces; None: the whole image


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
        detect_workers: int = 2,
        detect_in: DetectIn = "processes",
        uncertain_threshold: float = 0.0,
        face_alignment: Alignment = "none",
        detect_queue_size: int,
        min_face_size: int | None = None,
    ) -> None:
        self.backend = backend
        self.batcher = batcher
        self.rollout = rollout
        self.detector_name = detector_name
        self.model_name = model_name
        self.request_timeout_s = request_timeout_s
        self.uncertain_threshold = uncertain_threshold
        self._label_names: tuple[str, ...] | None = None
        self._input_shape: tuple[int, ...] | None = None
        self.detection = DetectionPool(
            detector_name, workers=detect_workers, where=detect_in, alignment=face_alignment, min_face=min_face_size
        )
        self.admission = Admission(detect_queue_size)  # Settings derives the default from the workers

    def close(self) -> None:
        self.detection.close()

    async def _detect_and_crop(
        self, image: np.ndarray, size: int, regions: tuple[Region, ...] | None
    ) -> tuple[list[FaceBox], np.ndarray]:
        boxes, crops, seconds = await self.detection.detect(image, size, regions)
        metrics.STAGE_LATENCY.labels("detect").observe(seconds)
        height, width = image.shape
        return [_clipped(b, width, height) for b in boxes], crops

    @staticmethod
    def _inside(regions: tuple[Region, ...] | None, image: np.ndarray) -> tuple[Region, ...] | None:
        """``regions`` if they all lie inside ``image``; a stream whose frame size changed searches whole."""
        if not regions:
            return None
        height, width = image.shape

        def fits(box) -> bool:
            return 0 <= box.x < box.x + box.width <= width and 0 <= box.y < box.y + box.height <= height

        return regions if all(fits(r.box) for r in regions) else None

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

    async def analyze_upload(
        self,
        data: bytes,
        *,
        max_pixels: int,
        detect: bool = True,
        selector: Selector | None = None,
        regions: tuple[Region, ...] | None = None,
    ) -> AnalysisResult:
        """Faces and emotions in an uploaded image's bytes: admitted (or Overloaded at once),
        decoded, analysed. The slot is freed when the crops are ready, before the batch queue."""
        with self.admission.admit() as slot:
            started = time.perf_counter()
            # A decoding image's crops are on their way too. Nothing yields between the end of this
            # mark and detection's own, so the batcher never sees it as gone in between.
            with self.batcher.detecting():
                image = await run_in_threadpool(decode_image, data, max_pixels=max_pixels)
            metrics.STAGE_LATENCY.labels("decode").observe(time.perf_counter() - started)
            return await self.analyze(image, detect=detect, selector=selector, slot=slot, regions=regions)

    async def analyze(
        self,
        image: np.ndarray,
        *,
        detect: bool = True,
        selector: Selector | None = None,
        slot: Slot | None = None,
        regions: tuple[Region, ...] | None = None,
    ) -> AnalysisResult:
        """Faces and emotions in ``image`` (uint8 [H, W]); raises ApiError subclasses.

        ``slot``, an admission slot held for this image, is released once its faces are cropped.
        ``regions`` limit the face search to those parts of the image (stream_regions.py) when
        they lie inside it; the result's ``searched`` says what was searched.
        """
        selector = selector or Selector()
        try:
            async with asyncio.timeout(self.request_timeout_s):
                return await self._analyze(image, detect=detect, selector=selector, slot=slot, regions=regions)
        except TimeoutError:
            raise Timeout(f"the request took longer than {self.request_timeout_s:g}s") from None
        except ModelNotFound as exc:
            if selector.version is not None or selector.label is not None:
                raise
            # Nothing was pinned: the version the gateway chose (the newest, or the rollout's stable
            # or canary) is not served right now. The service's trouble, not the caller's: 503.
            raise BackendUnavailable(f"no model version can answer right now ({exc.message})") from exc

    async def _analyze(
        self, image: np.ndarray, *, detect: bool, selector: Selector, slot: Slot | None,
        regions: tuple[Region, ...] | None
    ) -> AnalysisResult:
        check_gray(image)
        height, width = image.shape
        target = self.backend.resolve(route(selector, self.rollout.current()))
        label_names, input_shape = await self._model_shape()
        size = input_shape[0]
        regions = self._inside(regions, image) if detect else None
        searched = None if regions is None else tuple(FaceBox(r.box.x, r.box.y, r.box.width, r.box.height)
                                                      for r in regions)
        if detect:
            with self.batcher.detecting():
                boxes, crops = await self._detect_and_crop(image, size, regions)
        else:
            boxes, crops = self._whole_image(image, size)
        if slot is not None:
            slot.release()  # past detection: from here the batch queue (QUEUE_SIZE) bounds the work
        metrics.FACES_PER_IMAGE.observe(len(boxes))
        if not boxes:
            return AnalysisResult(self.model_name, await self.backend.confirm(target), width, height, [], searched)
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
        faces = [self._face(box, row, label_names, self.uncertain_threshold)
                 for box, row in zip(boxes, prediction.probabilities, strict=True)]
        return AnalysisResult(self.model_name, prediction.version, width, height, faces, searched)

    @staticmethod
    def _face(box: FaceBox, row: np.ndarray, label_names: tuple[str, ...], uncertain_threshold: float) -> FaceResult:
        probs = np.clip(np.asarray(row, dtype=np.float64), 0.0, None)
        probs = probs / probs.sum() if probs.sum() > 0 else np.full(len(probs), 1.0 / len(probs))
        best = int(np.argmax(probs))
        metrics.PREDICTIONS.labels(label_names[best]).inc()
        return FaceResult(
            box=box,
            emotion=label_names[best],
            confidence=float(probs[best]),
            scores={name: float(p) for name, p in zip(label_names, probs, strict=True)},
            uncertain=is_uncertain(float(probs[best]), uncertain_threshold),
        )
