"""The versions a rollout may name: complete version folders, by the contract's rule
(`emotion_contract.layout`), refused with the tool's own errors."""

from __future__ import annotations

from pathlib import Path

from emotion_contract.layout import complete_versions, is_complete

from .errors import VersionNotFound


def require_version(base: Path, version: int) -> Path:
    folder = base / str(version)
    if not is_complete(folder):
        why = "is missing" if not folder.exists() else "is incomplete (no saved_model.pb yet)"
        raise VersionNotFound(f"version {version} under {base} {why}")
    return folder


def newest_version(base: Path) -> int:
    versions = complete_versions(base)
    if not versions:
        raise VersionNotFound(f"no complete model version under {base}")
    return versions[-1]
