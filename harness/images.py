"""Real test images: FER-2013 val faces and composited scenes, encoded in any format/mode."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from emotion_contract.labels import EMOTIONS
from PIL import Image

from harness.scenes import Scene, make_scene, val_face_paths


def encode(image: np.ndarray | Image.Image, fmt: str = "PNG", **options) -> bytes:
    pil = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def _faces_by_class() -> dict[str, list]:
    by_class: dict[str, list] = {label: [] for label in EMOTIONS}
    for path, label in val_face_paths():
        by_class[label].append(path)
    return by_class


def val_faces(per_class: int = 2, offset: int = 0) -> list[tuple[str, np.ndarray]]:
    """``per_class`` real 48x48 val faces of every emotion, as (label, uint8 [48, 48])."""
    out = []
    for label, paths in _faces_by_class().items():
        for path in paths[offset : offset + per_class]:
            out.append((label, np.asarray(Image.open(path).convert("L"))))
    return out


@lru_cache(maxsize=32)
def scene(seed: int) -> Scene:
    return make_scene(seed)


def scene_png(seed: int) -> bytes:
    return encode(scene(seed).image)
