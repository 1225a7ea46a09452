"""Test media made from real faces: jittered clips (one face whose true label never changes),
written as MP4 for the `emotion video` command or as Y4M for Chromium's fake camera (the CLI,
stream and webcam tests share them)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from harness.scenes import sample_photo_path


def portrait(width: int, height: int) -> np.ndarray:
    """The shipped real portrait photo (BGR), letterboxed onto a ``width`` x ``height`` canvas."""
    photo = cv2.imread(str(sample_photo_path()), cv2.IMREAD_COLOR)
    scale = min(width / photo.shape[1], height / photo.shape[0])
    resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 90, np.uint8)
    y0, x0 = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[y0 : y0 + resized.shape[0], x0 : x0 + resized.shape[1]] = resized
    return canvas


def jittered_clip(base: np.ndarray, frames: int, *, seed: int = 0, shift: float = 8.0,
                  zoom: float = 0.05, noise: float = 10.0) -> list[np.ndarray]:
    """``frames`` copies of ``base`` (BGR) each moved, scaled, re-lit and noised a little, as a
    hand-held camera would show one face whose expression does not change."""
    rng = np.random.default_rng(seed)
    height, width = base.shape[:2]
    clip = []
    for _ in range(frames):
        s = 1.0 + rng.uniform(-zoom, zoom)
        m = cv2.getRotationMatrix2D((width / 2, height / 2), float(rng.uniform(-3, 3)), s)
        m[:, 2] += rng.uniform(-shift, shift, 2)
        frame = cv2.warpAffine(base, m, (width, height), borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        frame = frame * rng.uniform(0.85, 1.15) + rng.normal(0, noise, frame.shape)
        clip.append(np.clip(frame, 0, 255).astype(np.uint8))
    return clip


def write_mp4(frames: list[np.ndarray], path: Path, fps: float = 10.0) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), f"cannot write {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_y4m(frames: list[np.ndarray], path: Path, fps: int = 10) -> Path:
    """YUV4MPEG2 4:2:0, the format Chromium's --use-file-for-fake-video-capture reads."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)  # Y plane, then U, then V
            out.write(b"FRAME\n")
            out.write(yuv.tobytes())
    return path
