"""Fixtures for the rollout tool's tests: a throw-away model base and this part's share of ports.
Server processes (gateway, Serving double) are harness/servers.py's, as in the gateway tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from emotion_contract import layout

from harness.servers import MODEL_DIR, REPO

FER_DIR = Path(os.environ.get("FER2013_DIR", REPO.parent / "shared" / "datasets" / "fer2013"))
# This part's share of the project's port plan (harness.servers.free_port's default is the gateway tests').
ROLLOUT_PORTS = (18600, 18899)


@pytest.fixture(scope="session")
def fer_dir() -> Path:
    if not (FER_DIR / "val").is_dir():
        pytest.fail(f"FER-2013 not found at {FER_DIR} (set FER2013_DIR)")
    return FER_DIR


def make_model_base(root: Path) -> Path:
    """Versions 1 and 2 (real copies of the newest shipped SavedModel: old folders get pruned),
    plus two half-written folders that nothing may ever load: a trainer staging folder and a
    version without saved_model.pb."""
    base = root / "emotion"
    base.mkdir(parents=True)
    source = MODEL_DIR / str(layout.newest_version(MODEL_DIR))
    for version in (1, 2):
        shutil.copytree(source, base / str(version))
    shutil.copytree(source, base / ".staging-abc123")
    shutil.copytree(source / "variables", base / "3" / "variables")
    return base


@pytest.fixture
def model_base(tmp_path) -> Path:
    return make_model_base(tmp_path / "models")
