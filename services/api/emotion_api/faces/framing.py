"""Map a detector's own box onto the FER-2013 framing of a face.

Detectors disagree on what a face box is (Haar boxes reach above the brows, MTCNN boxes stop at
the chin), while the model was trained on FER-2013 crops: square, roughly forehead to chin with
a little hair and background. Every detector here returns boxes already mapped to that framing,
so ``crop_faces`` only has to cut the square out. The numbers come from ``make bench-detect
--calibrate``: the median ratio between each detector's box and the true pasted FER crop.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Box


@dataclass(frozen=True)
class Framing:
    scale: float = 1.0  # side of the FER square / larger side of the detector box
    shift_x: float = 0.0  # centre offset, in detector-box widths
    shift_y: float = 0.0  # centre offset, in detector-box heights

    def apply(self, box: Box) -> Box:
        side = max(1, round(max(box.width, box.height) * self.scale))
        cx = box.x + box.width / 2 + self.shift_x * box.width
        cy = box.y + box.height / 2 + self.shift_y * box.height
        return Box(round(cx - side / 2), round(cy - side / 2), side, side, box.score, box.landmarks)

    def mirrored(self) -> Framing:
        """The framing for boxes found on a horizontally flipped image."""
        return Framing(self.scale, -self.shift_x, self.shift_y)

    @staticmethod
    def between(raw: Box, target: Box) -> Framing:
        """The framing that turns ``raw`` into ``target`` exactly (used to calibrate)."""
        return Framing(
            scale=max(target.width, target.height) / max(raw.width, raw.height),
            shift_x=((target.x + target.width / 2) - (raw.x + raw.width / 2)) / raw.width,
            shift_y=((target.y + target.height / 2) - (raw.y + raw.height / 2)) / raw.height,
        )


IDENTITY = Framing()
