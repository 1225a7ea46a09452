"""Reads FER-2013 from the Kaggle folder layout or the original fer2013.csv into uint8 arrays.

Both loaders return the same thing: ``Split(images[N, 48, 48] uint8, labels[N] int32, sources)``.
Bad data is an error that names the file or CSV line; nothing is skipped silently, because a
silently smaller training set is a bug nobody notices.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from emotion_contract.labels import EMOTIONS, IMAGE_SIZE

from .settings import get_settings

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".tif", ".tiff"}
# Usage column of fer2013.csv -> the split names of the folder layout.
CSV_USAGE = {"training": "train", "publictest": "val", "privatetest": "test"}
SPLIT_ALIASES = {"train": ("train", "training"), "val": ("val", "validation", "publictest"),
                 "test": ("test", "privatetest")}


class DatasetError(ValueError):
    """The dataset is malformed; the message names the offending file or line."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # [N, 48, 48] uint8
    labels: np.ndarray  # [N] int32
    sources: tuple[str, ...]  # file name or "fer2013.csv:LINE", parallel to images

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> "Split":
        return Split(self.images[indices], self.labels[indices], tuple(self.sources[i] for i in indices))


def to_face_array(image: np.ndarray, where: str) -> np.ndarray:
    """Converts any decoded image (colour, alpha, 16-bit, any size) to 48x48 uint8 grayscale."""
    if image is None:
        raise DatasetError(f"{where}: unreadable image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DatasetError(f"{where}: unsupported pixel type {image.dtype}")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return image


def _class_index(folder_name: str, where: Path) -> int:
    try:
        return EMOTIONS.index(folder_name.strip().lower())
    except ValueError:
        raise DatasetError(
            f"{where}: unknown class folder {folder_name!r}; expected one of {', '.join(EMOTIONS)}"
        ) from None


def find_split_dir(root: Path, split: str) -> Path:
    for alias in SPLIT_ALIASES.get(split, (split,)):
        for child in (root / alias, root / alias.capitalize(), root / alias.upper()):
            if child.is_dir():
                return child
    raise DatasetError(f"{root}: no folder for split {split!r} (looked for {', '.join(SPLIT_ALIASES.get(split, (split,)))})")


def load_folder_split(split_dir: Path) -> Split:
    images, labels, sources = [], [], []
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
    if not class_dirs:
        raise DatasetError(f"{split_dir}: empty split (no class folders)")
    for class_dir in class_dirs:
        label = _class_index(class_dir.name, class_dir)
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            images.append(to_face_array(raw, str(path)))
            labels.append(label)
            sources.append(f"{class_dir.name}/{path.name}")
    if not images:
        raise DatasetError(f"{split_dir}: empty split (no images in its class folders)")
    return Split(np.stack(images), np.asarray(labels, np.int32), tuple(sources))


def load_csv(csv_path: Path) -> dict[str, Split]:
    """All splits of fer2013.csv at once: the file is read in one pass either way."""
    rows: dict[str, tuple[list, list, list]] = {}
    with open(csv_path, newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["emotion", "pixels"]:
            raise DatasetError(f"{csv_path}:1: expected header 'emotion,pixels,Usage', got {','.join(header)!r}")
        for line_no, row in enumerate(reader, start=2):
            where = f"{csv_path}:{line_no}"
            if len(row) < 2:
                raise DatasetError(f"{where}: expected emotion,pixels[,Usage], got {len(row)} column(s)")
            try:
                label = int(row[0])
            except ValueError:
                raise DatasetError(f"{where}: emotion {row[0]!r} is not an integer") from None
            if not 0 <= label < len(EMOTIONS):
                raise DatasetError(f"{where}: emotion {label} outside 0..{len(EMOTIONS) - 1}")
            try:
                pixels = np.array(row[1].split(), dtype=np.int32)
            except ValueError:
                raise DatasetError(f"{where}: pixels must be space-separated integers") from None
            if pixels.size != IMAGE_SIZE * IMAGE_SIZE or pixels.min() < 0 or pixels.max() > 255:
                raise DatasetError(f"{where}: expected {IMAGE_SIZE * IMAGE_SIZE} pixel values in 0..255, got {pixels.size}")
            usage = row[2].strip().lower() if len(row) > 2 else "training"
            if usage not in CSV_USAGE:
                raise DatasetError(f"{where}: unknown Usage {row[2]!r}")
            bucket = rows.setdefault(CSV_USAGE[usage], ([], [], []))
            bucket[0].append(pixels.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
            bucket[1].append(label)
            bucket[2].append(f"{csv_path.name}:{line_no}")
    return {name: Split(np.stack(i), np.asarray(l, np.int32), tuple(s)) for name, (i, l, s) in rows.items()}


def _fingerprint(path: Path) -> str:
    """Changes whenever files are added, removed or rewritten, without reading their bytes."""
    digest = hashlib.sha1(str(path.resolve()).encode())
    entries = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for entry in entries:
        stat = entry.stat()
        digest.update(f"{entry}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _cached(key: str, build) -> Split:
    cache = get_settings().fer_cache_dir / f"{key}.npz"
    if cache.exists():
        with np.load(cache) as saved:
            return Split(saved["images"], saved["labels"], tuple(saved["sources"].tolist()))
    split = build()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, images=split.images, labels=split.labels, sources=np.asarray(split.sources))
    os.replace(tmp, cache)
    return split


def load_split(source: str | Path, split: str, use_cache: bool = True) -> Split:
    """Loads one split ('train', 'val' or 'test') from a dataset folder or fer2013.csv."""
    source = Path(source)
    if not source.exists():
        raise DatasetError(f"{source}: dataset not found")
    if source.is_file():
        def build() -> Split:
            splits = load_csv(source)
            if split not in splits:
                raise DatasetError(f"{source}: empty split {split!r} (no rows with that Usage)")
            return splits[split]
        key = f"csv-{split}-{_fingerprint(source)}"
    else:
        # A path that already is a split folder (…/train) is accepted as that split.
        split_dir = source if any(_is_class_dir(p) for p in source.iterdir()) else find_split_dir(source, split)

        def build() -> Split:
            return load_folder_split(split_dir)
        key = f"dir-{split_dir.name}-{_fingerprint(split_dir)}"
    return _cached(key, build) if use_cache else build()


def _is_class_dir(path: Path) -> bool:
    return path.is_dir() and path.name.strip().lower() in EMOTIONS
