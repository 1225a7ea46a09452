"""Named detector configurations; the gateway picks one by name from its settings.

Which configuration is ``default`` is decided by ``make bench-detect`` (bench/detection_bench.py)
on 640x480 scenes with real FER-2013 val faces; see the package docstring for the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .framing import Framing
from .haar import CascadeSpec, HaarDetector
from .hybrid import VerifiedDetector
from .mtcnn_detector import MTCNNDetector
from .types import FaceDetector
from .verify import ONetVerifier

if TYPE_CHECKING:  # onnxruntime is imported when an MTCNN detector is built, not before
    from .mtcnn_nets import Runtime

DEFAULT = "mtcnn-80r"

# Detector box -> FER framing, measured with `bench/detection_bench.py --calibrate`.
FRAMING = {
    "frontalface_default": Framing(1.045, 0.0, 0.012),
    "frontalface_alt": Framing(1.039, 0.0, 0.006),
    "frontalface_alt2": Framing(1.053, 0.0, 0.013),
    "profileface": Framing(1.009, 0.033, 0.029),  # un-mirrored; haar.py flips shift_x if mirrored
    "mtcnn": Framing(0.962, 0.016, 0.010),
    "fer_to_onet": Framing(1.040, -0.016, -0.010),  # FER square -> the square MTCNN hands to ONet
}


def _cascade(name: str, mirrored: bool = False) -> CascadeSpec:
    return CascadeSpec(name, FRAMING[name], mirrored)


def _onet(threshold: float = 0.8) -> ONetVerifier:
    return ONetVerifier(threshold=threshold, to_mtcnn=FRAMING["fer_to_onet"], to_fer=FRAMING["mtcnn"])


_MULTI = ("frontalface_default", "frontalface_alt2")
# mtcnn's own P/R/O-Net score thresholds, and the proposal stages one notch looser: PNet and
# RNet then pass on faces they were unsure of (+3-4% recall on the benchmark scenes) while ONet
# keeps its 0.8 and with it the false-positive rate (loosening ONet too doubled it).
STRICT = (0.6, 0.7, 0.8)
LOOSE = (0.5, 0.6, 0.8)
# PNet and RNet one notch looser again, ONet two: with faces sought from 80 px instead of 48
# (about a third of the pixels for PNet) the scenes' recall rose from 0.89 to 0.90-0.92 at
# 0.00-0.03 false positives per image, for 0.42 of the old default's CPU (docs/detection.md).
RECALL = (0.4, 0.5, 0.6)
# Bigger images are searched for bigger faces: 5% of the shorter side (24 px at 640x480).
MIN_FACE_FRACTION = 0.05


def _mtcnn(
    name: str,
    min_face: int,
    thresholds=LOOSE,
    fraction: float = MIN_FACE_FRACTION,
    runtime: Runtime = "onnxruntime",
    refined: bool = True,
) -> Callable[[int | None], FaceDetector]:
    def build(smallest: int | None) -> FaceDetector:
        return MTCNNDetector(
            framing=FRAMING["mtcnn"],
            min_face_size=smallest or min_face,
            min_face_fraction=fraction,
            thresholds=thresholds,
            name=name,
            runtime=runtime,
            refined=refined,
        )

    return build


def _fixed(build: Callable[[], FaceDetector]) -> Callable[[int | None], FaceDetector]:
    """A detector whose smallest face is part of its design (Haar's scan, ONet on Haar proposals)."""

    def checked(smallest: int | None) -> FaceDetector:
        detector = build()
        if smallest is not None:
            raise ValueError(f"MIN_FACE_SIZE applies to the MTCNN detectors, not to {detector.name!r}")
        return detector

    return checked

_FACTORIES: dict[str, Callable[[int | None], FaceDetector]] = {
    "haar": _fixed(lambda: HaarDetector([_cascade("frontalface_default")], name="haar")),
    "haar-half": _fixed(lambda: HaarDetector([_cascade("frontalface_default")], downscale=2.0, name="haar-half")),
    "haar-multi": _fixed(lambda: HaarDetector(
        [*(_cascade(c) for c in _MULTI), _cascade("profileface", mirrored=True)],
        downscale=2.0,
        name="haar-multi",
    )),
    "mtcnn": _mtcnn("mtcnn", 20, STRICT, fraction=0.0, refined=False),  # the library's own settings and cascade
    "mtcnn-40": _mtcnn("mtcnn-40", 40, STRICT),
    "mtcnn-48": _mtcnn("mtcnn-48", 48),
    "mtcnn-60": _mtcnn("mtcnn-60", 60),
    "mtcnn-56r": _mtcnn("mtcnn-56r", 56, RECALL),
    "mtcnn-64r": _mtcnn("mtcnn-64r", 64, RECALL),
    "mtcnn-72r": _mtcnn("mtcnn-72r", 72, RECALL),
    "mtcnn-80r": _mtcnn("mtcnn-80r", 80, RECALL),
    # The default until 2026-12-04, exactly: the baseline `make bench-detect` measures against.
    "mtcnn-48-opencv": _mtcnn("mtcnn-48-opencv", 48, runtime="opencv", refined=False),
    "haar+onet": _fixed(lambda: VerifiedDetector(
        HaarDetector([_cascade(c) for c in _MULTI], min_neighbors=2, downscale=2.0, name="haar-proposals"),
        _onet(),
        name="haar+onet",
    )),
}


class UnknownDetectorError(ValueError):
    """Raised for a detector name that is not registered; the message lists the valid ones."""


def detector_names() -> list[str]:
    return ["default", *_FACTORIES]


def make_detector(name: str, min_face: int | None = None) -> FaceDetector:
    """Build a fresh detector; ``"default"`` is the configuration the benchmark picked.

    ``min_face``: the smallest face sought, in pixels, instead of the MTCNN detector's own (the
    ``MIN_FACE_SIZE`` setting); detection cost falls with its square.
    """
    key = DEFAULT if name == "default" else name
    try:
        factory = _FACTORIES[key]
    except KeyError:
        raise UnknownDetectorError(
            f"unknown face detector {name!r}; choose one of: {', '.join(detector_names())}"
        ) from None
    return factory(min_face)
