"""Labelled face-detection scenes built from real FER-2013 validation faces.

Each scene is a 640x480 grayscale image with 1-3 real val faces upscaled to 80-220 px and pasted
onto a busy background (gradients, noise, textures, shapes, text and patches of real face-free
photos), with the pasted squares as ground truth. Everything is drawn from one seed, so a seed
always gives the same scene: tests and the detection benchmark share these scenes.

The ground-truth box is exactly the pasted FER crop, so cutting it back out and resizing to
48x48 gives (nearly) the original crop: the crop-framing check in the benchmark relies on that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from emotion_contract.labels import EMOTIONS

from emotion_api.faces import Box

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 640, 480
FACE_PX = (80, 220)


def fer_dir() -> Path:
    """The FER-2013 folder tree (``val/<class>/*.jpg``); env ``FER2013_DIR`` overrides it."""
    return Path(os.environ.get("FER2013_DIR", REPO.parent / "shared" / "datasets" / "fer2013"))


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # uint8 [HEIGHT, WIDTH]
    boxes: list[Box]  # ground truth, one per pasted face
    labels: list[str]  # FER class of each face, same order as boxes
    faces: list[np.ndarray]  # the original 48x48 crops, same order as boxes


@lru_cache(maxsize=4)
def val_face_paths(root: Path | None = None) -> tuple[tuple[Path, str], ...]:
    root = Path(root or fer_dir()) / "val"
    paths = tuple((p, label) for label in EMOTIONS for p in sorted((root / label).glob("*.jpg")))
    if not paths:
        raise FileNotFoundError(f"no FER-2013 val images under {root} (set FER2013_DIR)")
    return paths


def _read_gray(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"cannot read image {path}")
    return image


@lru_cache(maxsize=1)
def clutter_photos() -> tuple[np.ndarray, ...]:
    """Real photos without faces that ship with scikit-learn (a temple and a flower)."""
    import sklearn.datasets

    folder = Path(sklearn.datasets.__file__).parent / "images"
    return tuple(_read_gray(folder / name) for name in ("china.jpg", "flower.jpg"))


def sample_photo_path() -> Path:
    """Matplotlib's sample portrait (Grace Hopper), the one real photo of a face shipped here."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def background(rng: np.random.Generator, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A face-free, non-blank background: one base layer plus clutter on top."""
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:  # linear gradient
        angle = rng.uniform(0, np.pi)
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        base = np.interp(ramp, (ramp.min(), ramp.max()), sorted(rng.uniform(20, 235, 2)))
    elif kind == 1:  # wood/fabric-like sinusoid texture
        fx, fy = rng.uniform(0.01, 0.12, 2)
        base = 128 + 60 * np.sin(fx * xx + 3 * np.sin(fy * yy)) * rng.uniform(0.4, 1.0)
    elif kind == 2:  # smoothed noise blobs
        small = rng.uniform(0, 255, (height // 24 + 1, width // 24 + 1)).astype(np.float32)
        base = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    else:  # a patch of a real face-free photo
        photo = clutter_photos()[rng.integers(len(clutter_photos()))]
        fit = max(height / photo.shape[0], width / photo.shape[1])
        scale = fit * rng.uniform(1.0, 1.6)
        photo = cv2.resize(photo, None, fx=scale, fy=scale)
        y0 = rng.integers(photo.shape[0] - height + 1)
        x0 = rng.integers(photo.shape[1] - width + 1)
        base = photo[y0 : y0 + height, x0 : x0 + width].astype(np.float32)
    image = np.clip(base + rng.normal(0, rng.uniform(2, 12), base.shape), 0, 255).astype(np.uint8)
    _draw_clutter(image, rng)
    return image


def _draw_clutter(image: np.ndarray, rng: np.random.Generator) -> None:
    height, width = image.shape
    for _ in range(rng.integers(2, 9)):
        shade = int(rng.integers(256))
        p1 = (int(rng.integers(width)), int(rng.integers(height)))
        shape = rng.integers(4)
        if shape == 0:
            p2 = (p1[0] + int(rng.integers(20, 200)), p1[1] + int(rng.integers(20, 150)))
            cv2.rectangle(image, p1, p2, shade, int(rng.choice([-1, 2, 4])))
        elif shape == 1:
            axes = (int(rng.integers(10, 90)), int(rng.integers(10, 90)))
            cv2.ellipse(image, p1, axes, float(rng.uniform(0, 180)), 0, 360, shade, int(rng.choice([-1, 3])))
        elif shape == 2:
            p2 = (int(rng.integers(width)), int(rng.integers(height)))
            cv2.line(image, p1, p2, shade, int(rng.integers(1, 6)))
        else:
            text = "".join(rng.choice(list("ABCDEFGHKLMNOPRSTUVWXYZ0123456789 "), int(rng.integers(3, 12))))
            cv2.putText(image, text, p1, cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.6, 2.0)), shade, 2)


def _place(rng: np.random.Generator, sizes: list[int], height: int, width: int) -> list[Box]:
    """Non-overlapping squares (with a gap) fully inside the image; drops a face that cannot fit."""
    boxes: list[Box] = []
    for size in sizes:
        for _ in range(50):
            x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
            candidate = Box(x, y, size, size)
            if all(_apart(candidate, b, gap=0.15 * size) for b in boxes):
                boxes.append(candidate)
                break
    return boxes


def _apart(a: Box, b: Box, gap: float) -> bool:
    return (
        a.x + a.width + gap <= b.x
        or b.x + b.width + gap <= a.x
        or a.y + a.height + gap <= b.y
        or b.y + b.height + gap <= a.y
    )


def _paste(image: np.ndarray, face: np.ndarray, box: Box) -> None:
    patch = cv2.resize(face, (box.width, box.height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    # Feather only the outer 2% so the square's edge does not become a free cue for detectors,
    # while the face itself (what the crop check compares) stays untouched.
    ramp = np.minimum(np.arange(box.width), np.arange(box.width)[::-1]) / max(1.0, 0.02 * box.width)
    alpha = np.clip(np.minimum.outer(ramp, ramp), 0, 1).astype(np.float32)
    region = image[box.y : box.y + box.height, box.x : box.x + box.width].astype(np.float32)
    image[box.y : box.y + box.height, box.x : box.x + box.width] = np.clip(
        alpha * patch + (1 - alpha) * region, 0, 255
    ).astype(np.uint8)


def make_scene(seed: int, *, root: Path | None = None, n_faces: int | None = None) -> Scene:
    rng = np.random.default_rng(seed)
    paths = val_face_paths(root)
    count = int(n_faces if n_faces is not None else rng.integers(1, 4))
    picks = [paths[i] for i in rng.choice(len(paths), size=count, replace=False)]
    sizes = sorted((int(rng.integers(FACE_PX[0], FACE_PX[1] + 1)) for _ in picks), reverse=True)
    image = background(rng)
    boxes = _place(rng, sizes, HEIGHT, WIDTH)
    faces, labels = [], []
    for (path, label), box in zip(picks, boxes):
        face = _read_gray(path)
        _paste(image, face, box)
        faces.append(face)
        labels.append(label)
    return Scene(image=image, boxes=boxes, labels=labels, faces=faces)


def make_scenes(count: int, *, seed: int = 0, root: Path | None = None) -> list[Scene]:
    return [make_scene(seed * 100_003 + i, root=root) for i in range(count)]


def face_free_image(seed: int) -> np.ndarray:
    """A busy background with no face pasted in: every detection on it is a false positive."""
    return background(np.random.default_rng(seed))


def write_scene(scene: Scene | np.ndarray, path: Path) -> Path:
    """Write a scene (or any gray image) as JPEG/PNG, chosen by the suffix, for upload tests."""
    image = scene.image if isinstance(scene, Scene) else scene
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write image {path}")
    return Path(path)


@dataclass(frozen=True)
class Clip:
    frames: list[np.ndarray]  # uint8 [HEIGHT, WIDTH], in order
    boxes: list[list[Box]]  # ground truth per frame: the scene's faces that are wholly in view
    partial: list[list[Box]]  # per frame, the faces cut by the frame's edge (their visible part)


def moving_clip(seed: int, frames: int, *, speed: float = 6.0, zoom: float = 0.004) -> Clip:
    """A scene filmed by a camera that pans and zooms smoothly: ``frames`` frames of one
    ``make_scene(seed)`` moved by a random walk of velocity (at most ``speed`` px and ``zoom`` of
    scale per frame, about what a hand-held webcam at 15 fps shows), with the ground-truth boxes
    moved along. Faces pan out of view and back in, so a stream detector must find new faces too.
    """
    rng = np.random.default_rng(seed + 7)
    scene = make_scene(seed)
    pos, vel = np.zeros(2), np.zeros(2)
    scale, dscale = 1.0, 0.0
    out_frames, out_boxes, out_partial = [], [], []
    for _ in range(frames):
        vel = np.clip(vel + rng.normal(0, speed / 3, 2), -speed, speed)
        pos = np.clip(pos + vel, -WIDTH / 4, WIDTH / 4)
        dscale = float(np.clip(dscale + rng.normal(0, zoom / 3), -zoom, zoom))
        scale = float(np.clip(scale + dscale, 0.8, 1.25))
        m = np.array([[scale, 0, (1 - scale) * WIDTH / 2 + pos[0]], [0, scale, (1 - scale) * HEIGHT / 2 + pos[1]]])
        out_frames.append(cv2.warpAffine(scene.image, m, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE))
        boxes, partial = [], []
        for b in scene.boxes:
            x0, y0 = m @ np.array([b.x, b.y, 1.0])
            x1, y1 = m @ np.array([b.x + b.width, b.y + b.height, 1.0])
            if x0 >= 0 and y0 >= 0 and x1 <= WIDTH and y1 <= HEIGHT:
                boxes.append(Box(round(x0), round(y0), round(x1 - x0), round(y1 - y0)))
            elif x1 > 0 and y1 > 0 and x0 < WIDTH and y0 < HEIGHT:
                cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, WIDTH), min(y1, HEIGHT)
                partial.append(Box(round(cx0), round(cy0), round(cx1 - cx0), round(cy1 - cy0)))
        out_boxes.append(boxes)
        out_partial.append(partial)
    return Clip(out_frames, out_boxes, out_partial)
