"""Session-wide fixtures: the gateway as a real uvicorn process serving the real model, a second
one with API keys and tight limits (page, stream and CLI tests), and images made from real faces."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from emotion_contract import layout

from harness.scenes import sample_photo_path, val_face_paths
from harness.servers import MODEL_DIR, REPO, Gateway, free_port

ARTIFACTS = REPO / "artifacts" / "web"
KEYED_PORTS = (18900, 19199)  # the keyed gateway's share of loopback ports
# One key per test that counts against a quota, so their windows never interfere.
KEYS = {name: f"web-test-key-{name}" for name in ("page", "stream", "limit", "fps", "query")}
RATE_LIMIT = "4/minute"
KEYED_MAX_FPS = 2
# Every answer of the keyed gateway is flagged uncertain, so the page and stream show that state.
KEYED_UNCERTAIN_THRESHOLD = 1.0


def link_versions(target: Path, source: Path = MODEL_DIR) -> Path:
    """A model base path holding links to the real version folders, so tests can add versions."""
    target.mkdir(parents=True, exist_ok=True)
    for version in layout.complete_folders(source):
        (target / version.name).symlink_to(version.resolve(), target_is_directory=True)
    return target


@pytest.fixture(scope="session")
def gateway_model_dir(tmp_path_factory) -> Path:
    """The `gateway` fixture's MODEL_BASE_PATH: links to models/emotion/<N> plus its own rollout.json."""
    return link_versions(tmp_path_factory.mktemp("gateway-models") / "emotion")


@pytest.fixture(scope="session")
def gateway_launch(gateway_model_dir) -> Iterator[Gateway]:
    """The main gateway process, started but not yet waited for (lets suites overlap boots).

    Embedded backend running the SavedModels, otherwise default settings; its model folder is
    private to the session (see `gateway_model_dir`), re-scanned and its rollout state re-read
    every 0.5 s so rollout tests do not wait long.
    """
    server = Gateway.launch(
        {
            "MODEL_BASE_PATH": str(gateway_model_dir),
            "ROLLOUT_STATE_PATH": str(gateway_model_dir / "rollout.json"),
            "MODEL_POLL_S": "0.5",
            "ROLLOUT_POLL_S": "0.5",
            # What TF Serving runs, so that the backends can be compared number for number; the
            # default int8 runtime is the keyed gateway's and tests/api/test_int8_runtime.py's.
            "EMBEDDED_RUNTIME": "savedmodel",
        }
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gateway(gateway_launch) -> Gateway:
    """The main gateway, ready: model loaded and answering (`.url` is its base URL)."""
    return gateway_launch.wait()


@pytest.fixture(scope="session")
def keyed_gateway() -> Iterator[Gateway]:
    """A gateway with API keys, a small per-key quota and a low stream frame-rate cap."""
    server = Gateway.launch(
        {"API_KEYS": ",".join(KEYS.values()), "RATE_LIMIT": RATE_LIMIT, "STREAM_MAX_FPS": str(KEYED_MAX_FPS),
         "UNCERTAIN_THRESHOLD": str(KEYED_UNCERTAIN_THRESHOLD)},
        port=free_port(*KEYED_PORTS),
    )
    try:
        yield server.wait()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def faces_by_label() -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = {}
    for path, label in val_face_paths():
        grouped.setdefault(label, []).append(path)
    return grouped


@pytest.fixture(scope="session")
def two_face_png(tmp_path_factory) -> Path:
    """Two real FER-2013 val faces (a happy and a surprised one) upscaled side by side."""
    grouped = faces_by_label()
    image = np.full((360, 640), 150, np.uint8)
    for (label, x) in (("happy", 60), ("surprise", 380)):
        face = cv2.imread(str(grouped[label][0]), cv2.IMREAD_GRAYSCALE)
        image[80:280, x : x + 200] = cv2.resize(face, (200, 200), interpolation=cv2.INTER_CUBIC)
    path = tmp_path_factory.mktemp("images") / "two-faces.png"
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture(scope="session")
def portrait_jpg(tmp_path_factory) -> Path:
    """A real photo of a face (the portrait that ships with matplotlib)."""
    path = tmp_path_factory.mktemp("images") / "portrait.jpg"
    shutil.copy(sample_photo_path(), path)
    return path
