"""Session-wide fixtures: the gateway as a real uvicorn process serving the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emotion_contract import layout

from harness.servers import MODEL_DIR, Gateway


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

    Embedded backend and default settings; its model folder is private to the session (see
    `gateway_model_dir`), re-scanned and its rollout state re-read every 0.5 s so rollout tests
    do not wait long.
    """
    server = Gateway.launch(
        {
            "MODEL_BASE_PATH": str(gateway_model_dir),
            "ROLLOUT_STATE_PATH": str(gateway_model_dir / "rollout.json"),
            "MODEL_POLL_S": "0.5",
            "ROLLOUT_POLL_S": "0.5",
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
