"""Frames in, annotated frames + per-frame rows out: the loop behind `emotion video` and `emotion webcam`."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from emotion_contract.labels import EMOTIONS

from ..faces.types import Region
from ..stream_regions import RegionPlanner
from ..tracking import FaceTracker, track_faces
from .draw import annotate

CSV_FIELDS = ("frame", "time_s", "track_id", "x", "y", "width", "height", "emotion", "confidence", "uncertain",
              *EMOTIONS)

# OpenCV's pip wheel bundles FFmpeg without an H.264 encoder, so MPEG-4 Part 2 is the widely
# playable codec it can write; .avi gets Motion-JPEG.
_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


class FrameAnalyzer(Protocol):
    def region_planner(self) -> RegionPlanner | None:
        """Where each frame is searched, or None when the analyzer searches every frame whole."""
        ...

    async def analyze_frame(self, gray: np.ndarray,
                            regions: tuple[Region, ...] | None) -> tuple[dict[str, Any], tuple[Region, ...] | None]:
        """One grayscale frame, searched in ``regions`` (None: whole) -> the JSON body POST
        /v1/emotions would return for it, and the regions actually searched."""
        ...


@dataclass(frozen=True)
class Frame:
    index: int
    time_s: float
    image: np.ndarray  # BGR uint8


class VideoOpenError(RuntimeError):
    """The input video or camera could not be opened or the output could not be written."""


def open_capture(source: str | int) -> cv2.VideoCapture:
    # Probing a missing camera makes OpenCV print backend warnings; our own error says it better.
    previous = cv2.getLogLevel()
    cv2.setLogLevel(0)  # silent
    try:
        capture = cv2.VideoCapture(source)
    finally:
        cv2.setLogLevel(previous)
    if not capture.isOpened():
        capture.release()
        if isinstance(source, int):
            raise VideoOpenError(f"no camera found at index {source} (is one connected and free?)")
        if source.startswith("/dev/"):
            raise VideoOpenError(f"no camera found at {source} (is one connected and free?)")
        raise VideoOpenError(f"cannot open video {source}")
    return capture


def read_frames(capture: cv2.VideoCapture, *, limit: int | None = None) -> Iterator[Frame]:
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    index = 0
    while limit is None or index < limit:
        ok, image = capture.read()
        if not ok:
            return
        time_s = index / fps if fps > 0 else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        yield Frame(index, round(time_s, 4), image)
        index += 1


class VideoSink:
    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        fourcc = _FOURCC.get(path.suffix.lower())
        if fourcc is None:
            raise VideoOpenError(f"unsupported output type {path.suffix!r}; use one of {', '.join(_FOURCC)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps if fps > 0 else 25.0, size)
        if not self._writer.isOpened():
            raise VideoOpenError(f"cannot write video {path}")

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)

    def close(self) -> None:
        self._writer.release()


class CsvSink:
    """One row per frame and face; a frame without faces still gets one row with empty face fields."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=CSV_FIELDS)
        self._writer.writeheader()

    def write(self, frame: Frame, faces: list[dict[str, Any]]) -> None:
        if not faces:
            self._writer.writerow({"frame": frame.index, "time_s": frame.time_s})
        for face in faces:
            box = face["box"]
            row = {
                "frame": frame.index,
                "time_s": frame.time_s,
                "track_id": face.get("track_id", ""),
                **{k: box[k] for k in ("x", "y", "width", "height")},
                "emotion": face["emotion"],
                "confidence": f"{face['confidence']:.4f}",
                "uncertain": "true" if face.get("uncertain") else "false",
                **{label: f"{face['scores'].get(label, 0.0):.4f}" for label in EMOTIONS},
            }
            self._writer.writerow(row)

    def close(self) -> None:
        self._file.close()


async def analyze_frames(
    frames: Iterator[Frame], analyzer: FrameAnalyzer, tracker: FaceTracker, searches: Counter | None = None
) -> AsyncIterator[tuple[Frame, dict[str, Any]]]:
    """Analyse and track each frame in order; yields the frame with its smoothed result.

    As in a stream, a frame is searched only around the faces found in the one before, except
    every few frames (the analyzer's planner), since most of a video's frames hold the same faces.
    ``searches`` counts the frames searched whole ("frame") and around faces ("region")."""
    planner = analyzer.region_planner()
    for frame in frames:
        gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
        followed = tracker.seen_last()
        regions = planner.plan(followed, gray.shape[1], gray.shape[0]) if planner else None
        result, searched = await analyzer.analyze_frame(gray, regions)
        if planner:
            planner.record(searched, len(followed), len(result.get("faces", [])))
        if searches is not None:
            searches["frame" if searched is None else "region"] += 1
        result = {**result, "frame": frame.index, "time_s": frame.time_s,
                  "faces": track_faces(tracker, result.get("faces", []))}
        yield frame, result


def draw(frame: Frame, result: dict[str, Any]) -> np.ndarray:
    return annotate(frame.image, result["faces"])
