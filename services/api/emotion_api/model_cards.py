"""The key figures of each served version, read from its model card (assets/model.json).

An operator choosing what to promote sees them in GET /v1/models beside the versions. The cards
are read from MODEL_BASE_PATH when the gateway can see it (always for the embedded backend; for
the Serving backend when the models volume is mounted into the gateway too); a version whose
card is missing or unreadable is listed without figures rather than failing the request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from emotion_contract import layout

CARD_MD = Path(layout.REPORT_DIR) / layout.MODEL_CARD_MD


@lru_cache(maxsize=64)
def _read(path: Path, mtime_ns: int) -> dict[str, Any]:
    return json.loads(path.read_text())


def summary(base_path: Path, version: int) -> dict[str, Any] | None:
    """Architecture, cost, val accuracy and calibration of one version, or None without a card."""
    path = layout.model_card_path(base_path / str(version))
    try:
        card = _read(path, path.stat().st_mtime_ns)
    except (OSError, ValueError):
        return None
    val = card.get("val") or {}
    calibration = card.get("calibration") or {}
    return {
        "arch": card.get("arch"),
        "members": card.get("members"),
        "multiply_adds_per_face": card.get("multiply_adds_per_face"),
        "parameters": card.get("parameters"),
        "val_accuracy": val.get("plain"),
        "val_accuracy_flip_tta": val.get("flip_tta"),
        "val_macro_f1": card.get("val_macro_f1"),
        "calibration": calibration.get("method"),
        "uncertain_threshold": card.get("uncertain_threshold"),
        "card": f"{version}/{CARD_MD.as_posix()}" if (base_path / str(version) / CARD_MD).is_file() else None,
    }
