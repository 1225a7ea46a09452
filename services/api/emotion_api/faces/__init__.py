"""Face detection for the gateway: pluggable detectors behind one protocol, and FER-style crops.

``make_detector(name)`` builds a detector; every detector returns boxes already mapped to the
FER-2013 framing (``framing.py``), so ``crop_faces`` cuts what the model was trained on.

Detectors (all weights ship inside installed wheels: OpenCV's Haar cascades, mtcnn's P/R/O-Net):
``haar`` (frontal cascade, 1.1/5), ``haar-half`` (same at half resolution), ``haar-multi`` (two
frontal cascades and the mirrored profile cascade, NMS-merged), ``haar+onet`` (loose Haar
proposals verified and re-boxed by MTCNN's ONet), ``mtcnn`` (library settings, 20 px faces),
``mtcnn-40`` / ``mtcnn-48`` / ``mtcnn-60`` (run on a downscaled image so the smallest face
sought is 40/48/60 px; 48 and 60 with P/R/O thresholds 0.5/0.6/0.7 instead of 0.6/0.7/0.8).

Why ``default`` is ``mtcnn-48`` (``make bench-detect``: 150 scenes 640x480 with 292 real
FER-2013 val faces of 80-220 px on cluttered backgrounds + 50 face-free images, seed 7;
confirmed on a held-out seed 11; latency is best-of-3 wall time on the shared 2-core machine
while a model trains, CPU ms in brackets):

    detector   recall@0.3  FP/img  ms/image       crop agreement
    haar          0.70      0.21   299 (92 cpu)       0.75
    haar-half     0.67      0.09   115 (41)           0.74
    haar-multi    0.75      0.09   525 (225)          0.74
    haar+onet     0.75      0.01   110 (91)           0.70
    mtcnn         0.83      0.01   138 (92)           0.72
    mtcnn-40      0.84      0.01    53 (37)           0.74
    mtcnn-48      0.89      0.01    50 (35)           0.75
    mtcnn-60      0.88      0.01    35 (27)           0.71

Only the MTCNN family reaches recall >= 0.85 with <= 0.05 false positives per image; Haar
cascades miss a third of these tight, often non-frontal faces, and verifying their proposals
with ONet removes false positives but cannot recover faces Haar never proposed. MTCNN was made
cheap by running its networks as traced graphs (mtcnn calls Keras eagerly; 2.5x less CPU) and
on an image downscaled to the smallest face sought. ``mtcnn-48`` has the best recall within the
50 ms budget; ``mtcnn-60`` is faster still but misses faces under 60 px, a real loss on webcam
frames. The smallest face also grows with the image (5% of its shorter side), so a large upload
costs about what a 640x480 frame does. Crop agreement is how often the model gives the same
answer on the detected crop as on the original 48x48 crop (0.86 for the true pasted boxes).
"""

from .crop import crop_faces
from .registry import UnknownDetectorError, detector_names, make_detector
from .types import Box, FaceDetector

__all__ = ["Box", "FaceDetector", "UnknownDetectorError", "crop_faces", "detector_names", "make_detector"]
