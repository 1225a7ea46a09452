"""Greedy non-maximum suppression over Boxes, for merging several detectors' answers."""

from __future__ import annotations

from .types import Box


def nms(boxes: list[Box], iou_threshold: float = 0.3, *, suppress_contained: bool = True) -> list[Box]:
    """Keep the highest-scoring box of every overlapping group; ties go to the larger box."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: (b.score, b.area), reverse=True):
        if all(box.iou(k) < iou_threshold and not (suppress_contained and _contains(k, box)) for k in kept):
            kept.append(box)
    return kept


def _contains(outer: Box, inner: Box) -> bool:
    """A box mostly inside a kept one is a part of the same face (an eye, a mouth), not a new face."""
    ix = max(0, min(outer.x + outer.width, inner.x + inner.width) - max(outer.x, inner.x))
    iy = max(0, min(outer.y + outer.height, inner.y + inner.height) - max(outer.y, inner.y))
    return ix * iy >= 0.7 * inner.area
