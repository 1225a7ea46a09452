"""Detectors are built once per session: building MTCNN traces TensorFlow graphs."""

from __future__ import annotations

import pytest

from emotion_api.faces import Box, FaceDetector, make_detector
from harness.scenes import Scene, make_scenes, val_face_paths


@pytest.fixture(scope="session", autouse=True)
def _fer_available() -> None:
    try:
        val_face_paths()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


class DetectorCache(dict[str, FaceDetector]):
    """Builds each named detector on first use and keeps it for the session."""

    def __missing__(self, name: str) -> FaceDetector:
        detector = self[name] = make_detector(name)
        return detector


@pytest.fixture(scope="session")
def detectors() -> DetectorCache:
    return DetectorCache()


@pytest.fixture(scope="session")
def scenes() -> list[Scene]:
    """Scenes kept apart from the benchmark's seed, so tests do not grade on tuned data."""
    return make_scenes(10, seed=101)


@pytest.fixture(scope="session")
def detections(detectors, scenes):
    """``detections(name)``: that detector's boxes for every scene, computed once per session."""
    cache: dict[str, list[list[Box]]] = {}

    def run(name: str) -> list[list[Box]]:
        if name not in cache:
            cache[name] = [detectors[name].detect(scene.image) for scene in scenes]
        return cache[name]

    return run
