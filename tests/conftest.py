"""Session-wide fixtures: the gateway as a real uvicorn process serving the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.servers import MODEL_DIR, Gateway


def link_versions(target: Path, source: Path = MODEL_DIR) -> Path:
    """A model base path holding links to the real version folders, so tests can add versions."""
    target.mkdir(parents=True, exist_ok=True)
    for version in source.iterdir():
        if version.name.isdigit() and (version / "saved_model.pb").is_file():
            (target / version.name).symlink_to(version.resolve(), target_is_directory=True)
    return target


@pytest.fixture(scope="session")
def gateway_model_dir(tmp_path_factory) -> Path:
    """The `gateway` fixture's MODEL_BASE_PATH: links to models/emotion/<N> plus its own rollout.json."""
    return link_versions(tmp_path_factory.mktemp("gateway-models") / "emotion")


@pytest.fixture(scope="session")
def gateway(gateway_model_dir) -> Iterator[Gateway]:
    """The gateway on a free loopback port with the embedded backend and default settings.

    Its model folder is private to the session (see `gateway_model_dir`); models are re-scanned
    and the rollout state re-read every 0.5 s so rollout tests do not wait long.
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
        yield server.wait()
    finally:
        server.stop()
