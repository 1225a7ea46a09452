"""make_detector: names, the default, and a clear error for anything else."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_api.faces import FaceDetector, UnknownDetectorError, detector_names, make_detector
from emotion_api.faces import registry


def test_unknown_name_is_rejected_with_the_valid_names():
    with pytest.raises(UnknownDetectorError) as info:
        make_detector("yolo")
    message = str(info.value)
    assert "'yolo'" in message
    assert all(name in message for name in detector_names())
    assert isinstance(info.value, ValueError)  # callers that only know ValueError still catch it


def test_default_is_a_registered_detector(detectors):
    assert registry.DEFAULT in detector_names()
    detector = make_detector("default")
    assert isinstance(detector, FaceDetector)
    assert detector.name == registry.DEFAULT


@pytest.mark.parametrize("name", [n for n in detector_names() if n != "default"])
def test_every_detector_follows_the_protocol(detectors, name):
    detector = detectors[name]
    assert isinstance(detector, FaceDetector) and detector.name == name
    assert detector.detect(np.full((120, 160), 128, np.uint8)) == []


def test_detect_rejects_colour_images(detectors):
    with pytest.raises(ValueError, match="grayscale uint8"):
        detectors["default"].detect(np.zeros((48, 48, 3), np.uint8))
