"""Face detection for the gateway: pluggable detectors behind one protocol, and FER-style crops."""

from .crop import crop_faces
from .registry import UnknownDetectorError, detector_names, make_detector
from .types import Box, FaceDetector

__all__ = ["Box", "FaceDetector", "UnknownDetectorError", "crop_faces", "detector_names", "make_detector"]
