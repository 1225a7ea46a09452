"""Stream face search: recall, false positives and detection CPU per frame, by STREAM_FULL_DETECT_EVERY.

A stream searches the whole frame every N-th frame and, between those, only the region around the
faces it follows (services/api/emotion_api/stream_regions.py). This runs the gateway's own pieces
in-process, as a stream does: the detection worker's ``detect_and_crop`` (default detector and
alignment, or the environment's DETECTOR / MIN_FACE_SIZE / FACE_ALIGNMENT), the ``RegionPlanner``
and the ``FaceTracker`` (fed uniform scores: tracking follows boxes, scores only smooth). Clips are
labelled scenes filmed by a panning, zooming camera (harness/scenes.py ``moving_clip``): faces
move, leave and come back, so the figures include what a region search misses of new faces.

Settings are interleaved frame by frame, so machine noise falls on all of them alike; `cpu/full`
is each setting's CPU over the whole-frame search's (N = 1), same run.

    python bench/stream_bench.py [--clips 12 --frames 60 --every 1,3,5,10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for sub in ("services/contract", "services/api", ""):
    sys.path.insert(0, str(REPO / sub))

from emotion_api.core.config import Settings  # noqa: E402
from emotion_api.faces import Box  # noqa: E402
from emotion_api.faces.worker import detect_and_crop  # noqa: E402
from emotion_api.stream_regions import RegionPlanner  # noqa: E402
from emotion_api.tracking import FaceTracker  # noqa: E402
from emotion_contract.labels import NUM_CLASSES  # noqa: E402
from harness.scenes import moving_clip  # noqa: E402

HIT_IOU = 0.5  # a found face: its box overlaps the truth by half
ANY_IOU = 0.3  # a detection overlapping any face, whole or cut by the edge, this much is not false


class Stream:
    """One simulated stream at one setting: its tracker, planner and tallies."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.tracker = FaceTracker()
        self.planner = RegionPlanner(every)
        self.faces = self.hits = self.false = self.frames = self.regions = 0
        # Faces found in the previous frame (followed) and the others (new: just in view, or missed
        # last time): a region search keeps the first and leaves the second to the next whole one.
        self.by_kind = {"followed": [0, 0], "new": [0, 0]}  # [found, faces]
        self.cpu: list[float] = []
        self.pixels: list[float] = []

    def reset(self) -> None:  # a new clip is a new connection
        self.tracker, self.planner = FaceTracker(), RegionPlanner(self.every)

    def frame(self, image: np.ndarray, truth: list[Box], partial: list[Box], settings: Settings) -> None:
        height, width = image.shape
        followed = self.tracker.seen_last()
        region = self.planner.plan(followed, width, height)
        cpu = time.process_time()
        boxes, _, _ = detect_and_crop(settings.detector, image, 48, settings.face_alignment,
                                      settings.min_face_size, region)
        self.cpu.append((time.process_time() - cpu) * 1000)
        self.pixels.append(1.0 if region is None else sum(r.box.area for r in region) / (width * height))
        self.planner.record(region, len(followed), len(boxes))
        self.tracker.update(boxes, np.full((len(boxes), NUM_CLASSES), 1.0 / NUM_CLASSES, np.float32))
        self.frames += 1
        self.regions += region is not None
        self.faces += len(truth)
        for t in truth:
            hit = any(b.iou(t) >= HIT_IOU for b in boxes)
            kind = self.by_kind["followed" if any(f.iou(t) >= ANY_IOU for f in followed) else "new"]
            kind[0] += hit
            kind[1] += 1
            self.hits += hit
        self.false += sum(not any(b.iou(t) >= ANY_IOU for t in truth + partial) for b in boxes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "fer2013")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--frames", type=int, default=60, help="frames per clip (4 s at 15 fps)")
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--every", default="1,3,5,10", help="STREAM_FULL_DETECT_EVERY values; 1 is the reference")
    args = parser.parse_args(argv)
    os.environ["FER2013_DIR"] = str(args.data)
    import cv2

    cv2.setNumThreads(1)  # as a detection worker runs
    settings = Settings()
    everies = sorted({1, *(int(e) for e in args.every.split(","))})
    streams = [Stream(e) for e in everies]
    for c in range(args.clips):
        clip = moving_clip(args.seed * 1000 + c, args.frames)
        for s in streams:
            s.reset()
        for image, truth, partial in zip(clip.frames, clip.boxes, clip.partial):
            for s in streams:
                s.frame(image, truth, partial, settings)

    full_cpu = statistics.fmean(streams[0].cpu)
    print(f"{args.clips} clips x {args.frames} frames (seed {args.seed}), detector {settings.detector}, "
          f"min face {settings.min_face_size or 'default'}, alignment {settings.face_alignment}")
    print(f"{'every':>5} {'recall':>7} {'followed':>8} {'new':>11} {'FP/frame':>9} {'cpu ms':>7} {'cpu/full':>8} "
          f"{'region frames':>13} {'area searched':>13}")
    for s in streams:
        cpu = statistics.fmean(s.cpu)
        (f_hit, f_all), (n_hit, n_all) = s.by_kind["followed"], s.by_kind["new"]
        print(f"{s.every:>5} {s.hits / max(s.faces, 1):>7.3f} {f_hit / max(f_all, 1):>8.3f} "
              f"{f'{n_hit}/{n_all}':>11} {s.false / s.frames:>9.3f} {cpu:>7.2f} "
              f"{cpu / full_cpu:>8.2f} {s.regions / s.frames:>13.2f} {statistics.fmean(s.pixels):>13.2f}")
    print(f"recall: share of wholly visible faces found at IoU >= {HIT_IOU}; followed: of those found in the previous "
          f"frame; new: found of the others (just in view, or missed before); FP: detections overlapping no face "
          f"(whole or cut by the edge) at IoU >= {ANY_IOU}; cpu: detect and crop, per frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
