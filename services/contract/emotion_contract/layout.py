"""A model base path and its numbered version folders, as TensorFlow Serving reads them.

`<base>/<N>/` is version N. A version is *complete* when its folder name is all digits and it
holds `saved_model.pb`; only complete versions are loaded, served or offered for rollout. The
trainer assembles a version in a hidden `.staging-*` folder and renames it into place, so a
reader sees the whole version or nothing; any other name (`.rollout`, `rollout.json`) is not a
version. A numbered folder that is not complete yet still reserves its number.
"""

from __future__ import annotations

import json
from pathlib import Path

# Where every service looks when MODEL_BASE_PATH is unset (relative to the working directory).
DEFAULT_BASE_PATH = Path("models/emotion")
SAVED_MODEL_FILE = "saved_model.pb"
STAGING_PREFIX = ".staging-"  # a half-written version; the name is not a number, so it is ignored
ASSETS_DIR = "assets"
LABELS_FILE = "labels.txt"  # under assets/, one label per line, in output order
MODEL_CARD_FILE = "model.json"  # under assets/: name, version, labels, input shape, val figures
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
TFLITE_FILE = "emotion.tflite"  # float16 weights, float32 arithmetic
TFLITE_INT8_FILE = "emotion.int8.tflite"  # full-integer, quantisation ranges from training faces
REPORT_DIR = "report"  # metrics.json, figures
MODEL_CARD_MD = "MODEL_CARD.md"  # under report/: the human-readable card


def is_complete(folder: Path) -> bool:
    """The one completeness rule: an all-digit name holding saved_model.pb."""
    folder = Path(folder)
    return folder.name.isdigit() and (folder / SAVED_MODEL_FILE).is_file()


def _numbered(base: Path) -> list[Path]:
    try:
        return [p for p in Path(base).iterdir() if p.name.isdigit() and p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def complete_versions(base: Path) -> list[int]:
    """Complete versions under ``base``, ascending; none when ``base`` does not exist."""
    return sorted(int(p.name) for p in _numbered(base) if is_complete(p))


def complete_folders(base: Path) -> list[Path]:
    """The folders of ``complete_versions(base)``, in the same order."""
    return [Path(base) / str(v) for v in complete_versions(base)]


def newest_version(base: Path) -> int | None:
    versions = complete_versions(base)
    return versions[-1] if versions else None


def next_version(base: Path) -> int:
    """The number a new export takes: one above every numbered folder, complete or not."""
    taken = [int(p.name) for p in _numbered(base)]
    return max(taken) + 1 if taken else 1


def model_card_path(folder: Path) -> Path:
    return Path(folder) / ASSETS_DIR / MODEL_CARD_FILE


def labels_path(folder: Path) -> Path:
    return Path(folder) / ASSETS_DIR / LABELS_FILE


def read_label_names(folder: Path) -> tuple[str, ...]:
    """A version's label names in output order: assets/labels.txt, else the card's `labels`."""
    names = tuple(line.strip() for line in labels_path(folder).read_text().splitlines() if line.strip())
    if names:
        return names
    return tuple(json.loads(model_card_path(folder).read_text())["labels"])
