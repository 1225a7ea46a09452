"""The extra gateways the API tests need, all started at once so their model loads overlap.

- `guarded`: API keys, a memory rate limit, a tiny queue, a long batching window and a short
  deadline (so overloaded/timeout are deterministic), small upload and pixel limits.
- `serving_gateway`: the Serving backend against the TF Serving test double (started from a
  models.config with a `stable` label), with a Redis rate limit.
- `dead_serving`: the Serving backend pointed at a port nothing listens on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from emotion_contract import layout

from harness.servers import (
    MODEL_DIR,
    Gateway,
    Process,
    free_port,
    launch_fake_serving,
    launch_redis,
    wait_grpc_ready,
)

GUARDED_KEYS = ("guarded-key-auth", "guarded-key-rate", "guarded-key-load")
SERVING_KEYS = ("serving-key-scores", "serving-key-rate")
GUARDED_RATE = 20
SERVING_RATE = 25
# TF Serving's --model_config_file as the rollout tool writes it: the newest version labelled stable.
SERVING_CONFIG = """model_config_list {{
  config {{
    name: "emotion"
    base_path: "{base_path}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: {version} }} }}
    version_labels {{ key: "stable" value: {version} }}
  }}
}}
"""


@dataclass
class Launched:
    guarded: Gateway
    serving: Gateway
    dead: Gateway
    fake: Process
    fake_port: int
    redis: Process
    redis_port: int


@pytest.fixture(scope="session")
def _launched(gateway_launch, tmp_path_factory) -> Iterator[Launched]:
    redis, redis_port = launch_redis(tmp_path_factory.mktemp("redis"))
    newest = layout.newest_version(MODEL_DIR)
    config = tmp_path_factory.mktemp("serving") / "models.config"
    config.write_text(SERVING_CONFIG.format(base_path=MODEL_DIR, version=newest))
    fake, fake_port = launch_fake_serving(extra=["--model-config-file", str(config)])
    guarded = Gateway.launch(
        {
            "API_KEYS": ",".join(GUARDED_KEYS),
            "RATE_LIMIT": f"{GUARDED_RATE}/minute",
            "QUEUE_SIZE": "2",
            "MAX_BATCH_SIZE": "8",
            "MAX_WAIT_MS": "1000",
            "REQUEST_TIMEOUT_S": "0.3",
            "MAX_UPLOAD_BYTES": "300000",
            "MAX_IMAGE_PIXELS": "1000000",
        }
    )
    serving = Gateway.launch(
        {
            "SERVING_ADDRESS": f"127.0.0.1:{fake_port}",
            "API_KEYS": ",".join(SERVING_KEYS),
            "RATE_LIMIT": f"{SERVING_RATE}/minute",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "UNCERTAIN_THRESHOLD": "1.0",
        }
    )
    # Haar keeps this gateway free of TensorFlow: nothing it serves needs the model.
    dead = Gateway.launch(
        {"SERVING_ADDRESS": f"127.0.0.1:{free_port()}", "SERVING_TIMEOUT_S": "1", "DETECTOR": "haar"}
    )
    launched = Launched(guarded, serving, dead, fake, fake_port, redis, redis_port)
    try:
        yield launched
    finally:
        everything = (guarded, serving, dead, fake, redis)
        for process in everything:
            process.terminate()
        for process in everything:
            process.stop()


@pytest.fixture(scope="session")
def gateway(_launched, gateway) -> Gateway:
    """The main gateway; asking for it starts the other servers too, so all boots overlap."""
    return gateway


@pytest.fixture(scope="session")
def guarded(_launched) -> Gateway:
    return _launched.guarded.wait()


@pytest.fixture(scope="session")
def fake_serving(_launched) -> tuple[Process, int]:
    wait_grpc_ready(_launched.fake, _launched.fake_port)
    return _launched.fake, _launched.fake_port


@pytest.fixture(scope="session")
def serving_gateway(_launched, fake_serving) -> Gateway:
    return _launched.serving.wait()


@pytest.fixture(scope="session")
def redis_port(_launched) -> int:
    return _launched.redis_port


@pytest.fixture(scope="session")
def dead_serving(_launched) -> Gateway:
    return _launched.dead.wait("/healthz")

