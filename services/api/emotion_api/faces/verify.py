"""Second opinion on face candidates from MTCNN's ONet, run only on small crops.

A Haar cascade asked for fewer overlapping hits finds more faces, and much more texture and
text; ONet (48x48 input, shipped in the `mtcnn` wheel) rejects those for a few milliseconds,
and its box regression tightens the survivors. Candidates are in FER framing, ONet wants the
squarer, tighter MTCNN framing, so each side is converted on the way in and out.
"""

from __future__ import annotations

import cv2
import numpy as np

from .framing import Framing
from .types import Box

ONET_SIZE = 48


class ONetVerifier:
    """Keeps candidates ONet scores at least ``threshold``."""

    def __init__(self, *, threshold: float, to_mtcnn: Framing, to_fer: Framing, refine: bool = True) -> None:
        from .mtcnn_nets import onet

        self._run = onet()  # its own network: the verifier, like its detector, lives in one thread
        self._threshold = threshold
        self._to_mtcnn = to_mtcnn
        self._to_fer = to_fer
        self._refine = refine

    def __call__(self, gray: np.ndarray, candidates: list[Box]) -> list[Box]:
        """The candidates ONet accepts, re-scored by ONet and (if ``refine``) re-boxed."""
        if not candidates:
            return []
        proposals = [self._to_mtcnn.apply(b) for b in candidates]
        patches = np.stack([_patch(gray, b) for b in proposals])
        offsets, _, scores = self._run(patches)
        kept = []
        for box, offset, score in zip(proposals, offsets, scores[:, 1]):
            if score < self._threshold:
                continue
            if self._refine:
                # ONet regresses corner offsets in units of the proposal's size.
                x1 = box.x + offset[0] * box.width
                y1 = box.y + offset[1] * box.height
                x2 = box.x + box.width + offset[2] * box.width
                y2 = box.y + box.height + offset[3] * box.height
                box = Box(round(x1), round(y1), max(1, round(x2 - x1)), max(1, round(y2 - y1)))
            kept.append(self._to_fer.apply(Box(box.x, box.y, box.width, box.height, float(score))))
        return kept


def _patch(gray: np.ndarray, box: Box) -> np.ndarray:
    """The box as ONet input: 48x48 grey, scaled to [-1, 1] as MTCNN was trained."""
    h, w = gray.shape
    x0, y0 = box.x, box.y
    x1, y1 = x0 + box.width, y0 + box.height
    region = gray[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    if region.size == 0:
        region = np.zeros((1, 1), np.uint8)
    else:
        # Mid-grey padding: MTCNN crops the normalised image, so its zero fill is grey 127.5.
        region = cv2.copyMakeBorder(
            region, max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w), cv2.BORDER_CONSTANT, value=128
        )
    patch = cv2.resize(region, (ONET_SIZE, ONET_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    return (patch - 127.5) / 128.0
