"""Cut detected faces out as the model's input: square, edge-padded, resized."""

from __future__ import annotations

import cv2
import numpy as np

from .align import Alignment, aligned_crop
from .types import Box, check_gray


def crop_faces(gray: np.ndarray, boxes: list[Box], size: int = 48, *, alignment: Alignment = "none") -> np.ndarray:
    """Return ``[len(boxes), size, size]`` uint8 crops of FER-framed boxes.

    Detectors already return boxes in FER-2013 framing (see ``framing.py``); a box that is not
    square is squared around its centre. Parts of the square outside the image repeat the edge
    pixels: FER faces have no black bars, so zero padding would be a pattern the model never saw.
    With ``alignment="landmarks"``, a box that carries landmarks (MTCNN's) is cut by them instead
    (``align.py``: eyes level, FER's eye and mouth positions); boxes without keep the box crop.
    """
    gray = check_gray(gray)
    if size < 1:
        raise ValueError(f"crop size must be positive, got {size}")
    if alignment not in ("landmarks", "none"):
        raise ValueError(f"alignment must be 'landmarks' or 'none', got {alignment!r}")
    out = np.empty((len(boxes), size, size), dtype=np.uint8)
    for i, box in enumerate(boxes):
        if alignment == "landmarks" and box.landmarks is not None:
            out[i] = aligned_crop(gray, box.landmarks, size)
        else:
            out[i] = _crop_one(gray, box, size)
    return out


def _crop_one(gray: np.ndarray, box: Box, size: int) -> np.ndarray:
    side = max(1, box.width, box.height)
    x0 = round(box.x + box.width / 2 - side / 2)
    y0 = round(box.y + box.height / 2 - side / 2)
    h, w = gray.shape
    pad_l, pad_t = max(0, -x0), max(0, -y0)
    pad_r, pad_b = max(0, x0 + side - w), max(0, y0 + side - h)
    region = gray[max(0, y0) : min(h, y0 + side), max(0, x0) : min(w, x0 + side)]
    if region.size == 0:  # wholly outside: all padding, so every pixel repeats the nearest one
        return np.full((size, size), gray[min(max(y0, 0), h - 1), min(max(x0, 0), w - 1)], np.uint8)
    if pad_l or pad_t or pad_r or pad_b:
        region = cv2.copyMakeBorder(region, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interp)
