"""Where a stream's next frame is searched for faces: around the faces it follows, or everywhere.

At webcam rates a face moves a fraction of its size between frames and its size changes by a few
per cent, so the previous frame's boxes, widened by a margin, hold it again, at nearly its size.
Searching only there, and only for faces near the size of the smallest one followed, costs a
fraction of searching the whole frame: MTCNN's cost goes with the pixels its first network scans,
over the area searched and the pyramid levels from the smallest face sought. New faces can appear
anywhere, so the whole frame is still searched on every STREAM_FULL_DETECT_EVERY-th frame, whenever
no face is being followed, and on the frame after a followed face was not found in its region.
Figures: docs/detection.md ("Streams").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .faces import Box
from .faces.types import Region

# Each side of a followed box is widened by this share of the box's larger side, so a face that
# moves up to a third of its size between two frames is still wholly inside the region.
MARGIN = 0.35
# A region larger than this share of the frame saves too little to be worth missing new faces.
MAX_SHARE = 0.7
# In a region, faces smaller than this share of the smallest followed face are not sought: a
# camera zooming out, or a face stepping back, shrinks it by a few per cent per frame.
SIZE_FLOOR = 0.6


def widened(box: Box, margin: float, width: int, height: int) -> list[int]:
    """``box`` grown by ``margin`` of its larger side on every side, as [x0, y0, x1, y1] inside the frame."""
    pad = round(margin * max(box.width, box.height))
    return [max(0, box.x - pad), max(0, box.y - pad),
            min(width, box.x + box.width + pad), min(height, box.y + box.height + pad)]


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def merged(areas: list[tuple[list[int], int]]) -> list[tuple[list[int], int]]:
    """(corners, smallest face) pairs with every two that overlap joined into their bounding box,
    so no pixel is searched twice and a face between two followed ones is seen whole."""
    out: list[tuple[list[int], int]] = []
    pending = list(areas)
    while pending:
        corners, smallest = pending.pop()
        for i, (other, other_smallest) in enumerate(out):
            if _overlap(corners, other):
                del out[i]
                both = [min(corners[0], other[0]), min(corners[1], other[1]),
                        max(corners[2], other[2]), max(corners[3], other[3])]
                pending.append((both, min(smallest, other_smallest)))
                break
        else:
            out.append((corners, smallest))
    return out


@dataclass
class RegionPlanner:
    """One per stream. ``plan`` before a frame, ``record`` after it; ``full_every`` 1 searches
    every frame whole."""

    full_every: int
    margin: float = MARGIN
    max_share: float = MAX_SHARE
    size_floor: float = SIZE_FLOOR
    _since_full: int = field(default=0, init=False)
    _lost: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.full_every < 1:
            raise ValueError(f"full_every must be at least 1, got {self.full_every}")

    def plan(self, followed: Sequence[Box], width: int, height: int) -> tuple[Region, ...] | None:
        """The regions of a ``width`` x ``height`` frame to search, one around each face followed
        (joined where they overlap), or None for the whole frame. ``followed``: the boxes of the
        faces found in the previous frame."""
        if self.full_every == 1 or not followed or self._lost or self._since_full + 1 >= self.full_every:
            return None
        areas = merged([(widened(box, self.margin, width, height),
                         max(1, int(self.size_floor * min(box.width, box.height)))) for box in followed])
        if any(c[2] <= c[0] or c[3] <= c[1] for c, _ in areas):
            return None  # a followed box outside this frame: the frame is not the one they came from
        if sum((c[2] - c[0]) * (c[3] - c[1]) for c, _ in areas) > self.max_share * width * height:
            return None
        return tuple(Region(Box(c[0], c[1], c[2] - c[0], c[3] - c[1]), smallest) for c, smallest in areas)

    def record(self, searched: Sequence[object] | None, followed: int, found: int) -> None:
        """After a frame: the regions searched (None: the whole frame), how many faces they
        followed, how many they found. Regions that lost a face send the next frame to a whole search."""
        if searched is None:
            self._since_full, self._lost = 0, False
        else:
            self._since_full += 1
            self._lost = found < followed
