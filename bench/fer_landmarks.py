"""Where FER-2013's crops put the eyes and the mouth: the target of landmark alignment.

FER-2013's faces were registered by their makers, so eyes and mouth sit at nearly the same
place in every 48x48 crop. This measures that place once: a seeded sample of *training* crops
(never val, which the tests and benchmarks grade on), each upscaled 3x (ONet wants more than
48 px) and edge-padded (the face fills the crop; MTCNN wants some frame around it), is run
through the gateway's MTCNN cascade; the most confident face of each image is kept when ONet
scores it at least --min-score and its box lies around the centre. The medians of its eye
centres and mouth centre (the middle of the two mouth corners), in units of the crop's side,
are printed as the constants of ``emotion_api/faces/align.py``, with the count behind them.

    PYTHONPATH=services/contract:services/api python bench/fer_landmarks.py [--data DIR] [--sample N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "services" / "contract"), str(REPO / "services" / "api")]

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from emotion_api.faces.mtcnn_cascade import MTCNNCascade  # noqa: E402

UPSCALE = 3  # 48 -> 144 px
PAD = 48  # px of replicated edge around the upscaled face
THRESHOLDS = (0.6, 0.7, 0.8)  # mtcnn's own


def training_crops(root: Path, sample: int, seed: int) -> list[Path]:
    paths = sorted((root / "train").glob("*/*.jpg")) + sorted((root / "train").glob("*/*.png"))
    if not paths:
        raise SystemExit(f"no training images under {root / 'train'}")
    return random.Random(seed).sample(paths, min(sample, len(paths)))


def measure(path: Path, cascade: MTCNNCascade, min_score: float) -> np.ndarray | None:
    """Left eye, right eye, mouth centre in units of the 48x48 crop's side, or None."""
    face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    size = face.shape[0]
    big = cv2.resize(face, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
    framed = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    boxes, points = cascade.detect_with_landmarks(framed, size * UPSCALE // 3, THRESHOLDS)
    if not len(boxes):
        return None
    best = int(np.argmax(boxes[:, 4]))
    x1, y1, x2, y2, score = boxes[best]
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) - PAD
    side = size * UPSCALE
    if score < min_score or np.abs(centre / side - 0.5).max() > 0.2:
        return None
    p = points[best]
    # Pixel centres of the upscaled crop back to units of the original crop's side.
    eyes_mouth = np.array([p[0], p[1], (p[3] + p[4]) / 2]) - PAD
    return (eyes_mouth + 0.5) / side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "fer2013")
    parser.add_argument("--sample", type=int, default=3000, help="training crops to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-score", type=float, default=0.95, help="ONet score a detection needs")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cascade = MTCNNCascade()
    paths = training_crops(args.data, args.sample, args.seed)
    found = [m for m in (measure(p, cascade, args.min_score) for p in paths) if m is not None]
    if not found:
        raise SystemExit("no confident detections")
    marks = np.stack(found)
    median = np.median(marks, axis=0)
    spread = np.percentile(marks, [25, 75], axis=0)
    print(f"{len(found)} of {len(paths)} training crops (seed {args.seed}) gave a face with ONet score >= "
          f"{args.min_score}; positions in units of the crop side (x, y), median [IQR]:")
    for k, name in enumerate(("FER_LEFT_EYE", "FER_RIGHT_EYE", "FER_MOUTH")):
        (x, y), (lx, ly), (hx, hy) = median[k], spread[0, k], spread[1, k]
        print(f"    {name:14s} = ({x:.4f}, {y:.4f})   # x [{lx:.3f}, {hx:.3f}], y [{ly:.3f}, {hy:.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
