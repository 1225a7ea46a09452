"""Which version folders are complete, by the same rule as the gateway and TF Serving.

The trainer assembles a version in a hidden `.staging-*` folder and renames it into place; a name
that is not all digits, or a folder without saved_model.pb yet, is never offered for rollout.
"""

from __future__ import annotations

from pathlib import Path

from .errors import VersionNotFound


def is_complete(folder: Path) -> bool:
    return folder.is_dir() and folder.name.isdigit() and (folder / "saved_model.pb").is_file()


def complete_versions(base: Path) -> list[int]:
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if is_complete(p))


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
