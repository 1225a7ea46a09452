"""The stream tracker: ids follow faces by overlap, scores are smoothed per track."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_api.faces import Box
from emotion_api.tracking import FaceTracker, track_faces

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def one_hot(index: int, strength: float = 0.9) -> np.ndarray:
    scores = np.full(len(LABELS), (1 - strength) / (len(LABELS) - 1), np.float32)
    scores[index] = strength
    return scores


def test_ids_follow_moving_faces_and_new_faces_get_new_ids() -> None:
    tracker = FaceTracker(smoothing=0.5)
    left, right = Box(10, 10, 100, 100), Box(300, 20, 90, 90)
    first = tracker.update([left, right], np.stack([one_hot(3), one_hot(4)]))
    # Both faces drift by a few pixels and the detector lists them in the other order.
    moved = [Box(306, 24, 92, 92), Box(16, 12, 100, 100)]
    second = tracker.update(moved, np.stack([one_hot(4), one_hot(3)]))
    assert [f.track_id for f in first] == [1, 2]
    assert [f.track_id for f in second] == [2, 1]
    assert [f.age for f in second] == [2, 2]
    third = tracker.update([Box(600, 300, 80, 80)], one_hot(0)[None])
    assert third[0].track_id == 3 and third[0].age == 1


def test_ema_weights_the_past_by_the_smoothing_setting() -> None:
    tracker = FaceTracker(smoothing=0.75)
    box = Box(0, 0, 50, 50)
    tracker.update([box], one_hot(3)[None])
    out = tracker.update([box], one_hot(4)[None])[0]
    np.testing.assert_allclose(out.scores, 0.75 * one_hot(3) + 0.25 * one_hot(4), rtol=1e-6)
    np.testing.assert_allclose(out.raw_scores, one_hot(4))
    assert LABELS[int(np.argmax(out.scores))] == "happy"


def test_zero_smoothing_passes_scores_through() -> None:
    tracker = FaceTracker(smoothing=0.0)
    box = Box(0, 0, 50, 50)
    tracker.update([box], one_hot(3)[None])
    np.testing.assert_allclose(tracker.update([box], one_hot(1)[None])[0].scores, one_hot(1))


def test_a_face_missed_for_a_few_frames_keeps_its_track_then_expires() -> None:
    tracker = FaceTracker(smoothing=0.5, max_misses=2)
    box = Box(40, 40, 60, 60)
    tracker.update([box], one_hot(3)[None])
    tracker.update([], np.zeros((0, 7)))
    tracker.update([], np.zeros((0, 7)))
    assert tracker.update([box], one_hot(3)[None])[0].track_id == 1
    for _ in range(3):
        tracker.update([], np.zeros((0, 7)))
    assert tracker.active_tracks == 0
    assert tracker.update([box], one_hot(3)[None])[0].track_id == 2


@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_rejects_smoothing_outside_its_range(smoothing: float) -> None:
    with pytest.raises(ValueError, match="smoothing"):
        FaceTracker(smoothing=smoothing)


def test_track_faces_keeps_the_api_shape_and_adds_track_ids() -> None:
    tracker = FaceTracker(smoothing=0.6)

    def face(scores: np.ndarray) -> dict:
        best = int(np.argmax(scores))
        return {
            "box": {"x": 5, "y": 6, "width": 70, "height": 70},
            "emotion": LABELS[best],
            "confidence": float(scores[best]),
            "scores": dict(zip(LABELS, map(float, scores))),
        }

    track_faces(tracker, [face(one_hot(3))])
    # A single frame that disagrees does not flip the label of a smoothed track.
    out = track_faces(tracker, [face(one_hot(5, strength=0.6))])
    assert out[0]["track_id"] == 1
    assert out[0]["emotion"] == "happy"
    assert set(out[0]["scores"]) == set(LABELS)
    assert abs(sum(out[0]["scores"].values()) - 1) < 1e-4
    assert out[0]["confidence"] == out[0]["scores"]["happy"]
    assert track_faces(tracker, []) == []


def test_smoothed_answers_are_flagged_uncertain_by_the_same_threshold() -> None:
    tracker = FaceTracker(smoothing=0.5, uncertain_threshold=0.6)

    def face(scores: np.ndarray) -> dict:
        best = int(np.argmax(scores))
        return {"box": {"x": 5, "y": 6, "width": 70, "height": 70}, "emotion": LABELS[best],
                "confidence": float(scores[best]), "scores": dict(zip(LABELS, map(float, scores))),
                "uncertain": False}

    assert track_faces(tracker, [face(one_hot(3, strength=0.9))])[0]["uncertain"] is False
    # A confident frame that disagrees leaves a smoothed answer below the threshold: flagged,
    # although the frame alone would not be.
    out = track_faces(tracker, [face(one_hot(5, strength=0.9))])[0]
    assert out["confidence"] < 0.6 and out["uncertain"] is True
