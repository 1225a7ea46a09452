"""MTCNN's P/R/O-Net cascade, the way mtcnn 1.0.0 runs it, on onnxruntime and OpenCV, not TensorFlow.

The networks are ``mtcnn_nets`` (onnxruntime, grey input). mtcnn's box arithmetic is re-stated
here line for line (``_square`` ... ``_scale_pyramid``) because importing any part of the
``mtcnn`` package imports TensorFlow, which detection worker processes must not load. Its
image work, which it does with eager TensorFlow calls, is done here with
``cv2.resize`` and one ``cv2.remap`` per stage, reproducing the TensorFlow ops' sampling (area
resize to truncated sizes; bilinear crop-and-resize with corners at ``(size - 1) * coordinate /
size`` and zero fill), so boxes match the library's to a pixel or two (``tests/faces``). Its NMS
is re-stated in ``_nms`` with the same rule: the library's version spends most of its time in
per-call numpy set-up, and the cascade calls it a dozen times per image.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext

import cv2
import numpy as np

from . import mtcnn_nets
from .types import halve

PNET_CELL = 12
SCALE_FACTOR = 0.709  # mtcnn's pyramid step
# mtcnn's own NMS settings per stage: (within a scale, across scales), RNet, ONet.
NMS_PNET = (0.5, 0.7)
NMS_RNET = 0.7
NMS_ONET = 0.7


class MTCNNCascade:
    """``detect(gray, min_face, thresholds)`` -> ``[n, 5]`` rows of x1, y1, x2, y2, score;
    ``detect_with_landmarks`` adds ONet's five points per face, ``[n, 5, 2]`` (x, y) in pixels."""

    def __init__(self, runtime: mtcnn_nets.Runtime = "onnxruntime") -> None:
        # Fresh networks per cascade: a cascade runs in one thread, its sessions with it.
        self._pnet, self._rnet, self._onet = (
            build(runtime) for build in (mtcnn_nets.pnet, mtcnn_nets.rnet, mtcnn_nets.onet)
        )
        # CPU seconds per step, summed over calls, when a profiler (`make bench-detect --profile`)
        # sets it to a dict; None in the gateway, where the steps are not timed.
        self.profile: defaultdict[str, float] | None = None

    def timed(self, step: str):
        """A context that adds its CPU time to ``profile[step]``; nothing at all when not profiling
        (the gateway's case: the cascade enters some thirty of these per image)."""
        return _UNTIMED if self.profile is None else self._timing(step)

    @contextmanager
    def _timing(self, step: str):
        started = time.thread_time()
        try:
            yield
        finally:
            self.profile[step] += time.thread_time() - started

    def detect(self, gray: np.ndarray, min_face: int, thresholds: tuple[float, float, float]) -> np.ndarray:
        return self.detect_with_landmarks(gray, min_face, thresholds)[0]

    def detect_with_landmarks(
        self,
        gray: np.ndarray,
        min_face: int,
        thresholds: tuple[float, float, float],
        detail: Sequence[np.ndarray] | None = None,
        whole_frame_level: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``detail``, if given, is the same image at a higher resolution (uint8), then any of its
        halvings already made: ONet's crops are cut from the finest scale a face needs, so the
        faces it places landmarks on keep the pixels that the downscaling for PNet threw away.
        Boxes and landmarks stay in ``gray``'s pixels either way.

        ``whole_frame_level`` adds one pyramid level past mtcnn's last, where the image's shorter
        side is PNet's 12 px: mtcnn stops wherever its 0.709 steps happen to cross 12, and a face
        that fills a loosely cropped photo is then never seen at PNet's size (3 of the 123 real
        photos, depending on the image size)."""
        # The networks were trained on RGB scaled to [-1, 1]; ``mtcnn_nets`` take one grey plane.
        with self.timed("scale to [-1, 1]"):
            plane = (gray.astype(np.float32) - 127.5) / 128.0
        h, w = plane.shape
        t_p, t_r, t_o = thresholds
        boxes = self._proposals(plane, min_face, t_p, whole_frame_level)
        if len(boxes):
            boxes = self._refine(self._rnet, plane, boxes, 24, t_r, NMS_RNET, "union", square=True, stage="rnet")
        if len(boxes):
            source = plane if detail is None else _Detail(plane, detail)
            boxes = self._refine(self._onet, source, boxes, 48, t_o, NMS_ONET, "min", square=False, stage="onet")
        if not len(boxes):
            return np.empty((0, 5), np.float32), np.empty((0, 5, 2), np.float32)
        # mtcnn's fit_to_image: corners clipped to the last pixel row/column. Landmarks are left
        # as predicted: a face cut by the image edge still has its eyes where ONet put them.
        out = boxes[:, 1:6].copy()
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w - 1)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h - 1)
        return out, np.stack([boxes[:, 6:11], boxes[:, 11:16]], axis=-1)

    def _proposals(self, plane: np.ndarray, min_face: int, threshold: float, whole_frame_level: bool) -> np.ndarray:
        h, w = plane.shape
        found = []
        scales = [s for s in _scale_pyramid(w, h, min_face) if min(int(w * s), int(h * s)) >= PNET_CELL]
        if whole_frame_level and scales and min(w, h) * scales[-1] > PNET_CELL + 1:
            scales.append(PNET_CELL / min(w, h))
        for level_index, scale in enumerate(scales):
            size = (int(w * scale), int(h * scale))  # tf.image.resize truncates float sizes
            with self.timed("pyramid resize"):
                level = cv2.resize(plane, size, interpolation=cv2.INTER_AREA)
            with self.timed(f"pnet level {level_index} ({size[0]}x{size[1]})"):
                offsets, scores = self._pnet(level[None])
            with self.timed("pnet boxes and nms"):
                boxes = _pnet_boxes(offsets[0], scores[0, :, :, 1], threshold)
                if not len(boxes):
                    continue
                boxes[:, 1:5] /= scale
                found.append(_nms(boxes, NMS_PNET[0], "union", initial_sort=False))
        if not found:
            return np.empty((0, 6))
        with self.timed("pnet boxes and nms"):
            boxes = _nms(np.concatenate(found), NMS_PNET[1], "union", initial_sort=True)
            return _square(boxes)

    def _refine(self, net, plane, boxes, size, threshold, nms, method, *, square, stage) -> np.ndarray:
        with self.timed(f"{stage} crops"):
            crops = _crops_and_resize(plane, boxes[:, 1:5], size)
        with self.timed(stage):
            outputs = net(crops)
        if self.profile is not None:
            self.profile[f"{stage} faces in"] += len(crops)
        with self.timed(f"{stage} boxes and nms"):
            offsets, scores = outputs[0], outputs[-1]
            boxes = boxes[:, :6].copy()
            boxes[:, -1] = scores[:, -1]
            if len(outputs) == 3:  # ONet: landmarks ride along as columns 6-15 through the shift and NMS
                boxes = np.concatenate([boxes, _landmarks(boxes, outputs[1])], axis=1)
            boxes = _shift(boxes, offsets)
            boxes = boxes[boxes[:, 5] > threshold]
            boxes = _nms(boxes, nms, method, initial_sort=True)
            return _square(boxes) if square and len(boxes) else boxes


def _scale_pyramid(width: int, height: int, min_face: int) -> np.ndarray:
    """mtcnn's build_scale_pyramid: the first scale maps ``min_face`` to PNet's 12 px cell."""
    count = round(-((np.log(min(width, height) / PNET_CELL) / np.log(SCALE_FACTOR)) + 1))
    return (PNET_CELL / min_face) * SCALE_FACTOR ** np.arange(count)


def _square(boxes: np.ndarray) -> np.ndarray:
    """mtcnn's resize_to_square: each box grown to its longer side around its centre."""
    boxes = boxes.copy()
    h = boxes[:, 4] - boxes[:, 2]
    w = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 1] = boxes[:, 1] + w * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 2] + h * 0.5 - side * 0.5
    boxes[:, 3:5] = boxes[:, 1:3] + np.tile(side, (2, 1)).T
    return boxes


def _shift(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """mtcnn's adjust_bboxes: regressed offsets in units of the box's (inclusive) width/height."""
    boxes = boxes.copy()
    w = boxes[:, 3] - boxes[:, 1] + 1
    h = boxes[:, 4] - boxes[:, 2] + 1
    boxes[:, 1:5] += offsets * np.stack([w, h, w, h], axis=-1)
    return boxes


def _landmarks(boxes: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """mtcnn's adjust_landmarks: ONet's x1..x5, y1..y5 in units of the (inclusive) size of the box
    it was shown, before that box is regressed, mapped to pixels (with the library's -1)."""
    w = boxes[:, 3:4] - boxes[:, 1:2] + 1
    h = boxes[:, 4:5] - boxes[:, 2:3] + 1
    return np.concatenate([w * raw[:, 0:5] + boxes[:, 1:2] - 1, h * raw[:, 5:10] + boxes[:, 2:3] - 1], axis=1)


def _pnet_boxes(offsets: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """mtcnn's generate_bounding_box for one image: each PNet cell above ``threshold`` is a window
    from ``2 * cell + 1`` to ``2 * cell + 12`` (mtcnn's own off-by-one, kept so boxes match the
    library's), moved by the regressed offsets in units of its 11 px side; best score first."""
    ys, xs = np.nonzero(scores > threshold)
    if not len(ys):
        return np.empty((0, 6))
    reg = offsets[ys, xs]
    side = PNET_CELL - 1
    x1, y1 = xs * 2.0 + 1, ys * 2.0 + 1
    x2, y2 = xs * 2.0 + PNET_CELL, ys * 2.0 + PNET_CELL
    boxes = np.stack([np.zeros_like(x1), x1 + reg[:, 0] * side, y1 + reg[:, 1] * side,
                      x2 + reg[:, 2] * side, y2 + reg[:, 3] * side, scores[ys, xs]], axis=1)
    return boxes[np.argsort(-boxes[:, 5], kind="stable")]


def _nms(boxes: np.ndarray, threshold: float, method: str, *, initial_sort: bool) -> np.ndarray:
    """mtcnn's ``smart_nms_from_bboxes`` for rows of one image (column 0 = image 0).

    Its rule is not greedy NMS: a box is dropped when any higher-scoring box overlaps it by more
    than ``threshold``, even one that was itself dropped. Overlap is intersection over the union
    ("union") or over the smaller area ("min"), with areas as ``(x2 - x1) * (y2 - y1)``.
    """
    if initial_sort:
        boxes = boxes[np.argsort(boxes[:, 5])[::-1]]  # the library's order, ties included
    if len(boxes) < 2:
        return boxes
    x1, y1, x2, y2 = boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x2 - x1) * (y2 - y1)
    # The n x n matrices are the cost (hundreds of PNet boxes at the first levels): each is
    # built once and updated in place.
    inter = np.minimum(x2[:, None], x2)
    inter -= np.maximum(x1[:, None], x1)
    np.maximum(inter, 0, out=inter)
    height = np.minimum(y2[:, None], y2)
    height -= np.maximum(y1[:, None], y1)
    np.maximum(height, 0, out=height)
    inter *= height
    if method == "union":
        denominator = area[:, None] + area
        denominator -= inter
    else:
        denominator = np.minimum(area[:, None], area)
    # overlap > threshold without the division; where the denominator is not positive (degenerate
    # boxes) the library's quotient is NaN or negative, never above the threshold.
    overlapping = inter > threshold * denominator
    overlapping &= denominator > 0
    return boxes[~np.triu(overlapping, 1).any(axis=0)]


_UNTIMED = nullcontext()


class _Detail:
    """The plane the boxes are given in, and the same image at higher resolutions: the uint8
    original and its halvings, down to the plane's scale (those given reused, the rest made)."""

    def __init__(self, plane: np.ndarray, halvings: Sequence[np.ndarray]) -> None:
        self.plane = plane
        self.levels = [halvings[0]]  # each half the previous, while still finer than the plane
        while self.levels[-1].shape[1] >= 4 * plane.shape[1] and self.levels[-1].shape[0] >= 4 * plane.shape[0]:
            given = len(self.levels) < len(halvings)
            self.levels.append(halvings[len(self.levels)] if given else halve(self.levels[-1]))


def _crops_and_resize(plane: np.ndarray | _Detail, boxes: np.ndarray, size: int) -> np.ndarray:
    """``tf.image.crop_and_resize`` of boxes given in pixels, as mtcnn calls it: mtcnn divides
    pixel corners by the image size, and TensorFlow maps them back with ``(size - 1)``, so the
    sampled region is a little smaller than the box; outside the image is zero (mid-grey).

    All boxes in one ``cv2.remap``: their sampling grids are stacked into one tall map, so a
    stage with 40 proposals costs one OpenCV call instead of 40.

    With a ``_Detail``, each box is cut from the coarsest of the plane and the finer levels
    where it is still at least ``size`` wide: narrower, the crop would lack pixels; much wider,
    bilinear sampling would skip most of them (the aliasing a 48 px crop of a 200 px face has).
    """
    if not isinstance(plane, _Detail):
        return _sample(plane, boxes, size, border=0.0)
    detail = plane
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    crops = np.empty((len(boxes), size, size), np.float32)
    coarse = side >= size
    if coarse.any():
        crops[coarse] = _sample(detail.plane, boxes[coarse], size, border=0.0)
    remaining = ~coarse
    for level in reversed(detail.levels):  # coarsest first; the original takes what is left
        fx, fy = level.shape[1] / detail.plane.shape[1], level.shape[0] / detail.plane.shape[0]
        chosen = remaining & ((side * min(fx, fy) >= size) | (level is detail.levels[0]))
        if not chosen.any():
            continue
        # Box corners in the plane's pixels -> the same points of this level (pixel centres:
        # u covers (u + 0.5) * f - 0.5); sampled from the uint8 pixels, mid-grey outside.
        mapped = boxes[chosen].astype(np.float64)
        mapped[:, [0, 2]] = (mapped[:, [0, 2]] + 0.5) * fx - 0.5
        mapped[:, [1, 3]] = (mapped[:, [1, 3]] + 0.5) * fy - 0.5
        crops[chosen] = (_sample(level, mapped, size, border=128).astype(np.float32) - 127.5) / 128.0
        remaining &= ~chosen
    return crops


def _sample(plane: np.ndarray, boxes: np.ndarray, size: int, border: float) -> np.ndarray:
    h, w = plane.shape
    x1, y1, x2, y2 = (boxes[:, k, None] for k in range(4))
    sx, sy = (w - 1) / w, (h - 1) / h
    steps = np.arange(size)
    # Output pixel (j, i) of crop n samples input (x1 * sx + j * step_x, y1 * sy + i * step_y).
    xs = x1 * sx + steps * ((x2 - x1) * sx / (size - 1))  # [n, size]
    ys = y1 * sy + steps * ((y2 - y1) * sy / (size - 1))
    n = len(boxes)
    map_x = np.broadcast_to(xs[:, None, :], (n, size, size)).reshape(n * size, size).astype(np.float32)
    map_y = np.broadcast_to(ys[:, :, None], (n, size, size)).reshape(n * size, size).astype(np.float32)
    crops = cv2.remap(plane, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return crops.reshape(n, size, size)
