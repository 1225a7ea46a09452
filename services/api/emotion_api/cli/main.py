"""The `emotion` command: analyse photos, annotate videos, or watch a webcam.

    emotion image PHOTO...                      one JSON line per photo (the API's JSON)
    emotion video IN.mp4 --out OUT.mp4 --csv F  annotated video + one CSV row per frame and face
    emotion webcam [--camera 0] [--out F]       one JSON line per frame until Ctrl-C

By default the model runs in this process (the gateway's own pipeline and settings, read from
the environment); --url sends the images to a running gateway instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

import cv2
from pydantic import ValidationError

from ..tracking import FaceTracker
from . import video
from .analyzers import AnalysisError, Analyzer, make_analyzer
from .progress import Progress
from .settings import CliSettings, get_cli_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _camera(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _parser(settings: CliSettings) -> argparse.ArgumentParser:
    key = settings.emotion_api_key.get_secret_value() if settings.emotion_api_key else None
    root = argparse.ArgumentParser(prog="emotion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="analyse with the gateway at this URL (e.g. http://localhost:8000)")
    common.add_argument("--api-key", default=key,
                        help="X-API-Key for --url (default: $EMOTION_API_KEY)")
    sub = root.add_subparsers(dest="command", required=True)

    image = sub.add_parser("image", parents=[common], help="print the API's JSON for each photo")
    image.add_argument("photos", nargs="+", type=Path)
    image.add_argument("--pretty", action="store_true", help="indent the JSON")

    tracked = argparse.ArgumentParser(add_help=False)
    tracked.add_argument("--smoothing", type=float,
                         default=settings.stream_smoothing,
                         help="weight of the past in the per-face score average, 0 = off (default: %(default)s)")
    tracked.add_argument("--uncertain-threshold", type=float, default=None,
                         help="flag smoothed answers below this confidence as uncertain "
                              "(default: the gateway's UNCERTAIN_THRESHOLD setting)")
    tracked.add_argument("--csv", type=Path, help="write one row per frame and face")
    tracked.add_argument("--out", type=Path, help="write the annotated video (.mp4 or .avi)")

    vid = sub.add_parser("video", parents=[common, tracked], help="annotate a video file")
    vid.add_argument("input", type=Path)
    vid.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: when stderr is a terminal)")

    cam = sub.add_parser("webcam", parents=[common, tracked], help="analyse a camera live (JSON lines)")
    cam.add_argument("--camera", type=_camera, default=0,
                     help="camera index, device path or stream URL (default: %(default)s)")
    cam.add_argument("--frames", type=int, help="stop after this many frames")
    return root


async def _images(analyzer: Analyzer, photos: list[Path], pretty: bool) -> int:
    status = EXIT_OK
    async with analyzer:
        for path in photos:
            try:
                body = await analyzer.analyze_file(path)
            except AnalysisError as exc:
                body, status = exc.as_json(), EXIT_FAILED
            except OSError as exc:
                body, status = AnalysisError("unreadable_file", f"{path}: {exc.strerror}").as_json(), EXIT_FAILED
            print(json.dumps(body, indent=2 if pretty else None), flush=True)
    return status


async def _track(analyzer: Analyzer, capture: cv2.VideoCapture, args: argparse.Namespace, *, limit: int | None,
                 progress: Progress | None, print_json: bool) -> int:
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    # Open every output before the model loads, so a bad path fails in a second, not after a minute.
    sink = video.VideoSink(args.out, fps, size) if args.out else None
    table = video.CsvSink(args.csv) if args.csv else None
    threshold = args.uncertain_threshold
    if threshold is None:
        from ..core.config import get_settings
        threshold = get_settings().uncertain_threshold
    tracker = FaceTracker(smoothing=args.smoothing, uncertain_threshold=threshold)
    searches: Counter = Counter()
    try:
        async with analyzer:
            async for frame, result in video.analyze_frames(video.read_frames(capture, limit=limit), analyzer,
                                                            tracker, searches):
                if sink:
                    sink.write(video.draw(frame, result))
                if table:
                    table.write(frame, result["faces"])
                if print_json:
                    print(json.dumps(result), flush=True)
                if progress:
                    progress.advance()
    finally:
        if progress:
            progress.close(f"{searches['frame']} searched whole, {searches['region']} around the faces followed")
        if sink:
            sink.close()
        if table:
            table.close()
        capture.release()
    return EXIT_OK


def _video(analyzer: Analyzer, args: argparse.Namespace) -> int:
    if not args.out and not args.csv:
        raise video.VideoOpenError("nothing to write: give --out and/or --csv")
    capture = video.open_capture(str(args.input))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    progress = Progress(total, label=args.input.name, enabled=args.progress)
    return asyncio.run(_track(analyzer, capture, args, limit=None, progress=progress, print_json=False))


def _webcam(analyzer: Analyzer, args: argparse.Namespace) -> int:
    capture = video.open_capture(args.camera)
    try:
        return asyncio.run(_track(analyzer, capture, args, limit=args.frames, progress=None, print_json=True))
    except KeyboardInterrupt:
        return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        settings = get_cli_settings()
    except ValidationError as exc:  # names the bad variable
        print(f"emotion: invalid settings: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = _parser(settings).parse_args(argv)
    if args.command != "image" and not 0.0 <= args.smoothing < 1.0:
        print(f"emotion: --smoothing must be in [0, 1), got {args.smoothing}", file=sys.stderr)
        return EXIT_USAGE
    analyzer = make_analyzer(args.url, args.api_key)
    try:
        if args.command == "image":
            return asyncio.run(_images(analyzer, args.photos, args.pretty))
        if args.command == "video":
            return _video(analyzer, args)
        return _webcam(analyzer, args)
    except video.VideoOpenError as exc:
        print(f"emotion: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AnalysisError as exc:
        print(f"emotion: {exc}", file=sys.stderr)
        return EXIT_FAILED
