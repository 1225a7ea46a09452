"""Face detection for the gateway: pluggable detectors behind one protocol, and FER-style crops.

``make_detector(name)`` builds a detector; every detector returns boxes already mapped to the
FER-2013 framing (``framing.py``), so ``crop_faces`` cuts what the model was trained on.

Detectors (OpenCV's Haar cascades ship in its wheel; mtcnn's P/R/O-Net are committed ONNX
graphs, ``mtcnn_graphs/``, which ``mtcnn_nets`` runs with onnxruntime):
``haar`` (frontal cascade, 1.1/5), ``haar-half`` (same at half resolution), ``haar-multi`` (two
frontal cascades and the mirrored profile cascade, NMS-merged), ``haar+onet`` (loose Haar
proposals verified and re-boxed by MTCNN's ONet), ``mtcnn`` (library settings, 20 px faces),
``mtcnn-40`` / ``mtcnn-48`` / ``mtcnn-60`` (run on a downscaled image so the smallest face
sought is 40/48/60 px, or 5% of the shorter side if larger; 48 and 60 with PNet/RNet thresholds
0.5/0.6 instead of 0.6/0.7, ONet kept at 0.8), ``mtcnn-56r`` / ``-64r`` / ``-72r`` / ``-80r``
(thresholds 0.4/0.5/0.6, ONet placing landmarks on the full-resolution face), and
``mtcnn-48-opencv`` (the default until 2026-12-04, on OpenCV DNN: the benchmark's baseline).
``MIN_FACE_SIZE`` overrides an MTCNN detector's smallest face.

The default is ``mtcnn-80r``. The rule it meets: on ``make bench-detect``'s scenes, recall of at
least 0.90 with at most 0.03 false positives per scene, at no more than half the CPU per image of
the detector it replaced, measured interleaved in one run. Because the smallest face sought grows
with the image, a large upload costs little more than a webcam frame. The measurements, and what
the other detectors gave, are in docs/detection.md; re-run ``make bench-detect`` before changing
the default.
"""

from .crop import crop_faces
from .registry import UnknownDetectorError, detector_names, make_detector
from .types import Box, FaceDetector

__all__ = ["Box", "FaceDetector", "UnknownDetectorError", "crop_faces", "detector_names", "make_detector"]
