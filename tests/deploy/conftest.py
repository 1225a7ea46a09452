"""Fixtures for the deployment tests: the repository and the model versions it ships."""

from __future__ import annotations

from pathlib import Path

from emotion_contract import layout

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models" / "emotion"


def shipped_versions() -> list[int]:
    """Complete versions under models/emotion, by the rule Serving, the gateway and the tool share."""
    return layout.complete_versions(MODELS)


def newest_shipped() -> int:
    versions = shipped_versions()
    assert versions, f"no complete model version under {MODELS}"
    return versions[-1]
