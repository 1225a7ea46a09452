"""Follow faces across the frames of one stream and smooth their scores, so labels do not flicker.

Per-frame classification of a 48x48 crop is noisy: a face whose expression does not change still
swaps between neighbouring classes from frame to frame. A stream keeps one ``FaceTracker``; each
frame's detections are matched to the previous frame's tracks by box overlap (greedy IoU, enough
at webcam rates where a face moves a fraction of its size between frames) and each track keeps an
exponential moving average of its scores. The label shown is the arg-max of the average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .faces import Box
from .uncertain import is_uncertain


@dataclass(frozen=True)
class TrackedFace:
    """One detection of the current frame, after matching and smoothing."""

    track_id: int
    box: Box
    scores: np.ndarray  # float32 [n_classes], smoothed, sums to 1
    raw_scores: np.ndarray  # this frame's scores as the model returned them
    age: int  # frames this track has been seen in, this one included


@dataclass
class _Track:
    track_id: int
    box: Box
    scores: np.ndarray
    age: int = 1
    misses: int = 0


@dataclass
class FaceTracker:
    """IoU tracker with EMA score smoothing for one stream (not shared between streams).

    ``smoothing`` is the weight of the past in the moving average, in [0, 1): 0 turns smoothing
    off, 0.7 makes a new frame count for 30%. A track survives ``max_misses`` frames without a
    matching detection, so a face that the detector loses for a frame keeps its id and history.
    """

    smoothing: float = 0.6
    iou_threshold: float = 0.3
    # Smoothed answers are flagged with the same rule as single images (uncertain.py).
    uncertain_threshold: float = 0.0
    max_misses: int = 5
    _tracks: list[_Track] = field(default_factory=list, init=False, repr=False)
    _next_id: int = field(default=1, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")

    @property
    def active_tracks(self) -> int:
        return len(self._tracks)

    def seen_last(self) -> list[Box]:
        """The boxes of the faces found in the last frame (tracks kept through misses excluded)."""
        return [track.box for track in self._tracks if track.misses == 0]

    def update(self, boxes: Sequence[Box], scores: np.ndarray) -> list[TrackedFace]:
        """Match this frame's ``boxes`` (with ``scores`` [len(boxes), n_classes]) to the tracks.

        Returns one ``TrackedFace`` per box, in the order of ``boxes``.
        """
        scores = np.asarray(scores, dtype=np.float32)
        if len(scores) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(scores)} score rows")
        assignment = self._match(boxes)
        matched_tracks = set(assignment.values())
        previous = self._tracks[:]  # tracks created below are not misses
        out: list[TrackedFace] = []
        for i, box in enumerate(boxes):
            track_index = assignment.get(i)
            if track_index is None:
                track = _Track(self._next_id, box, scores[i].copy())
                self._next_id += 1
                self._tracks.append(track)
            else:
                track = self._tracks[track_index]
                track.box = box
                track.scores = self.smoothing * track.scores + (1.0 - self.smoothing) * scores[i]
                track.age += 1
                track.misses = 0
            out.append(TrackedFace(track.track_id, box, track.scores.copy(), scores[i].copy(), track.age))

        for index, track in enumerate(previous):
            if index not in matched_tracks:
                track.misses += 1
        self._tracks = [t for t in self._tracks if t.misses <= self.max_misses]
        return out

    def _match(self, boxes: Sequence[Box]) -> dict[int, int]:
        """Greedy assignment detection -> track index, best overlap first, each used once."""
        pairs = [
            (box.iou(track.box), d, t)
            for d, box in enumerate(boxes)
            for t, track in enumerate(self._tracks)
        ]
        pairs.sort(key=lambda p: p[0], reverse=True)
        assignment: dict[int, int] = {}
        used_tracks: set[int] = set()
        for overlap, d, t in pairs:
            if overlap < self.iou_threshold:
                break
            if d in assignment or t in used_tracks:
                continue
            assignment[d] = t
            used_tracks.add(t)
        return assignment


def track_faces(tracker: FaceTracker, faces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply ``tracker`` to the faces of one API result (the JSON of POST /v1/emotions).

    Returns the faces in the same JSON shape with ``track_id`` added and ``scores``, ``emotion``
    and ``confidence`` replaced by their smoothed values, and ``uncertain`` recomputed from them. Used by the WebSocket stream and the
    CLI alike, so both smooth exactly the same way.
    """
    if not faces:
        tracker.update([], np.zeros((0, 0), np.float32))  # still ages the tracks
        return []
    labels = list(faces[0]["scores"])
    boxes = [Box(**{k: int(face["box"][k]) for k in ("x", "y", "width", "height")}) for face in faces]
    raw = np.array([[float(face["scores"][label]) for label in labels] for face in faces], np.float32)
    out = []
    for face, tracked in zip(faces, tracker.update(boxes, raw)):
        best = int(np.argmax(tracked.scores))
        confidence = float(tracked.scores[best])
        out.append({
            **face,
            "track_id": tracked.track_id,
            "emotion": labels[best],
            "confidence": round(confidence, 6),
            "uncertain": is_uncertain(confidence, tracker.uncertain_threshold),
            "scores": {label: round(float(s), 6) for label, s in zip(labels, tracked.scores)},
        })
    return out
