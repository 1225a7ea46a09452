"""Boxes and labels drawn onto video frames with OpenCV, in the page's colours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

# BGR, matching the web page's palette so a video and the page read the same.
COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (77, 72, 229),
    "disgust": (108, 164, 48),
    "fear": (198, 78, 142),
    "happy": (36, 165, 245),
    "sad": (221, 99, 62),
    "surprise": (148, 165, 18),
    "neutral": (152, 141, 139),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def face_label(face: Mapping[str, Any]) -> str:
    label = f"{face['emotion']} {round(100 * float(face['confidence']))}%"
    if face.get("uncertain"):
        label += " (uncertain)"
    return f"#{face['track_id']} {label}" if "track_id" in face else label


def annotate(frame: np.ndarray, faces: list[Mapping[str, Any]]) -> np.ndarray:
    """Draw every face of a result onto ``frame`` (BGR uint8, modified in place and returned)."""
    height = frame.shape[0]
    # Scale strokes and text with the frame, so a 240p clip and a 1080p one both stay readable.
    thickness = max(2, round(height / 240))
    scale = max(0.4, height / 900)
    for face in faces:
        box = face["box"]
        x, y, w, h = (int(box[k]) for k in ("x", "y", "width", "height"))
        color = COLORS.get(face["emotion"], (255, 255, 255))
        cv2.rectangle(frame, (x, y), (x + w, y + h), color, thickness, cv2.LINE_AA)
        text = face_label(face)
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, max(1, thickness - 1))
        pad = max(2, thickness)
        # Above the box when there is room, else inside its top edge.
        top = y - th - base - 2 * pad if y - th - base - 2 * pad >= 0 else y
        cv2.rectangle(frame, (x, top), (x + tw + 2 * pad, top + th + base + 2 * pad), color, -1)
        cv2.putText(frame, text, (x + pad, top + pad + th), _FONT, scale, (255, 255, 255),
                    max(1, thickness - 1), cv2.LINE_AA)
    return frame
