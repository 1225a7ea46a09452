"""Face detection for the gateway: pluggable detectors behind one protocol, and FER-style crops.

``make_detector(name)`` builds a detector; every detector returns boxes already mapped to the
FER-2013 framing (``framing.py``), so ``crop_faces`` cuts what the model was trained on.

Detectors (all weights ship inside installed wheels: OpenCV's Haar cascades, mtcnn's P/R/O-Net,
which ``mtcnn_nets`` runs on OpenCV DNN):
``haar`` (frontal cascade, 1.1/5), ``haar-half`` (same at half resolution), ``haar-multi`` (two
frontal cascades and the mirrored profile cascade, NMS-merged), ``haar+onet`` (loose Haar
proposals verified and re-boxed by MTCNN's ONet), ``mtcnn`` (library settings, 20 px faces),
``mtcnn-40`` / ``mtcnn-48`` / ``mtcnn-60`` (run on a downscaled image so the smallest face
sought is 40/48/60 px, or 5% of the shorter side if larger; 48 and 60 with PNet/RNet thresholds
0.5/0.6 instead of 0.6/0.7, ONet kept at 0.8).

Why ``default`` is ``mtcnn-48`` (``make bench-detect``: 150 scenes 640x480 with 292 real
FER-2013 val faces of 80-220 px on cluttered backgrounds, plus 50 face-free images; seed 7).
Both runs were taken on the shared 2-core machine while a model trained, so wall times are noisy;
CPU ms (all threads) is the steadier figure, and on an idle core wall time is about CPU time.
Crop acc: the emotion model on faces cut with ``crop_faces`` from the detected boxes; agree:
same answer as on the original 48x48 crop.

Haar rows (first run; interim model, which scored 0.408 on the original crops):

    detector   recall@0.3  FP/scene  FP/empty  ms/image (cpu)   crop acc  agree
    haar          0.70       0.21      0.24    299 (92)          0.44     0.75
    haar-half     0.67       0.09      0.08    115 (41)          0.44     0.74
    haar-multi    0.75       0.09      0.08    525 (225)         0.42     0.74

MTCNN rows (second run, MTCNN on OpenCV DNN; model v1, 0.589 on the original crops):

    detector   recall@0.3  FP/scene  FP/empty  cpu ms   crop acc  agree
    mtcnn-48      0.877      0.013     0.020    13.7     0.594    0.828
    mtcnn-40      0.839      0.013     0.000    14.6     0.596    0.812
    mtcnn-60      0.873      0.013     0.000    10.4     0.608    0.816
    mtcnn         0.832      0.007     0.020    45.5     0.584    0.815
    haar+onet     0.747      0.007     0.000    90.4     0.610    0.817

On a held-out seed (11, 100 scenes, 40 empty images) mtcnn-48 gave recall 0.88, 0.03 false
positives per scene and 0.025 per empty image (first run).

Only MTCNN with the looser proposal thresholds meets recall >= 0.85 with <= 0.05 false
positives per image. Haar cascades miss a quarter to a third of these tight, often non-frontal
faces; verifying their proposals with ONet removes false positives but cannot recover faces
Haar never proposed. MTCNN is cheap enough because it runs on an image downscaled to the
smallest face sought, and because its networks run on OpenCV DNN (``mtcnn_nets``) rather than
TensorFlow: 32 ms of CPU per image before, 14 ms after, same boxes. Cutting all of a stage's
crops with one ``cv2.remap`` and re-stating mtcnn's NMS without its numpy set-up took another 8%
(interleaved A/B of both cascades on 48 scenes, 6 rounds: median 17.1 -> 15.7 ms per image in a
slow phase of this shared machine, whose speed drifts by a third from minute to minute).
``mtcnn-48`` has the best recall; ``mtcnn-60`` saves a little time but misses faces under 60 px,
which webcam frames do have. Because the smallest face grows with the image, a 3200x2400 upload costs little more
than a webcam frame.
"""

from .crop import crop_faces
from .registry import UnknownDetectorError, detector_names, make_detector
from .types import Box, FaceDetector

__all__ = ["Box", "FaceDetector", "UnknownDetectorError", "crop_faces", "detector_names", "make_detector"]
