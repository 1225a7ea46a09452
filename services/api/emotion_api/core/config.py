"""Every setting of the gateway, read once from environment variables.

The process refuses to start on obviously invalid values (a validation error names the
variable), so a typo in a deployment fails at boot instead of at the first request.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from emotion_contract.layout import DEFAULT_BASE_PATH
from emotion_contract.rollout import default_state_path
from limits import parse as parse_rate_limit
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
# From the served version's calibration (models/emotion/<N>/assets/model.json, uncertain_threshold);
# a test holds the two equal.
DEFAULT_UNCERTAIN_THRESHOLD = 0.53
# DETECT_QUEUE_SIZE's default per detection worker: about 1.5 s of detection at this machine's
# rate (23 scenes/s per worker), far inside REQUEST_TIMEOUT_S, and enough that `make soak`'s 64
# one-request-at-a-time clients on 2 workers are never refused (docs/reliability.md).
DETECT_QUEUE_PER_WORKER = 32


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota.

    ``os.cpu_count()`` is the host's count; in a container limited to 2 CPUs on a 64-core node
    it would start 64 detection workers of 65 MB each.
    """
    count = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError):
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    return max(1, count)



class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Model and backend
    model_base_path: Path = DEFAULT_BASE_PATH
    model_name: str = Field("emotion", min_length=1)
    backend: Literal["auto", "embedded", "serving"] = "auto"
    serving_address: str | None = None
    serving_timeout_s: float = Field(5.0, gt=0, le=300)
    serving_max_message_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    model_poll_s: float = Field(5.0, gt=0, le=3600)
    # Threads per TensorFlow op in the embedded backend; 0 = TensorFlow's default (one per core).
    # One, because detection workers already keep the cores busy: an interleaved A/B at
    # concurrency 32 measured 4 % less CPU per image and 1-13 % (median 6 %) more throughput.
    embedded_intra_op_threads: int = Field(1, ge=0, le=256)
    # What the embedded backend runs for each version: its int8 TFLite copy where the version has
    # one (else its SavedModel), or always its SavedModel, which is what TF Serving runs. Version
    # 10's int8 copy loses nothing on val (68.93 % both) and, interleaved in `make bench`, took the
    # model's share of a request from 6.4 to 2.0 ms: p50 at concurrency 1 17.5 -> 12.3 ms,
    # 139-143 -> 158-170 images/s at concurrency 32, 90 MiB less RSS.
    embedded_runtime: Literal["savedmodel", "tflite-int8"] = "tflite-int8"

    # Micro-batching and deadlines
    max_batch_size: int = Field(32, ge=1, le=1024)
    # With nobody decoding or detecting, no crop the batcher can see is on its way: 0 sends a lone
    # request's crops at once (5 ms less at concurrency 1, same throughput at 32; make bench A/B).
    max_wait_ms: float = Field(0.0, ge=0, le=1000)
    max_wait_detecting_ms: float = Field(25.0, ge=0, le=1000)  # while other requests are still detecting
    queue_size: int = Field(256, ge=1, le=100_000)
    # Average each face's probabilities with its mirror image's: +0.9 points of val for version 9
    # at twice the model's work per face (docs/model-history.md, "Flip TTA in the gateway").
    flip_tta: bool = False
    request_timeout_s: float = Field(10.0, gt=0, le=300)

    # Input limits
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    max_image_pixels: int = Field(40_000_000, ge=48 * 48, le=1_000_000_000)
    detector: str = Field("default", min_length=1)
    # Smallest face sought, px (MTCNN detectors); unset: the detector's own (80 for the default).
    # Detection cost falls with its square; faces much under 48 px carry little for the 48x48 model.
    min_face_size: int | None = Field(None, ge=20, le=4096)
    # Detection is the CPU-heavy step; one worker per core keeps every core busy under load.
    # Processes, because MTCNN's many short OpenCV calls on threads left cores waiting for the
    # GIL (see detection_pool.py); threads save the workers' memory (about 65 MB each).
    detect_workers: int = Field(default_factory=usable_cpus, ge=1, le=256)
    detect_in: Literal["processes", "threads"] = "processes"
    # How a detected face becomes the model's 48x48 input: "landmarks" levels the eyes and puts
    # eyes and mouth where FER-2013 has them (faces/align.py; boxes without landmarks, from Haar,
    # are cut as "none" does); "none" cuts the FER-framed box. Chosen by bench-real and
    # bench-detect together; figures in faces/align.py.
    face_alignment: Literal["landmarks", "none"] = "landmarks"
    # Images admitted and not yet past detection (decoding, waiting for a worker, detecting); one
    # more is refused at once with 503 overloaded (admission.py). Unset: DETECT_QUEUE_PER_WORKER
    # per detection worker, which bounds the wait before detection to about 1.5 s.
    detect_queue_size: int | None = Field(None, ge=1, le=100_000)

    # Access control
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    rate_limit: str | None = None
    # Failed API-key attempts allowed per client address (used only when API_KEYS is set).
    auth_failure_limit: str = "10/minute"
    redis_url: str | None = None

    # Rollout
    rollout_state_path: Path | None = None
    rollout_poll_s: float = Field(1.0, gt=0, le=3600)

    # A face whose calibrated top probability is below this is answered with "uncertain": true.
    # The default is the served version's figure (its report/MODEL_CARD.md, "Calibration"): the
    # lowest threshold above which val accuracy is at least 80 %.
    uncertain_threshold: float = Field(DEFAULT_UNCERTAIN_THRESHOLD, ge=0.0, le=1.0)

    # Streaming (used by the WebSocket route)
    stream_smoothing: float = Field(0.6, ge=0.0, le=1.0)
    stream_max_fps: float = Field(15.0, gt=0, le=120)
    # Search the whole frame every N-th frame, and between them only around the faces followed
    # (stream_regions.py); 1 searches every frame whole. Default chosen by bench/stream_bench.py.
    stream_full_detect_every: int = Field(5, ge=1, le=1000)

    # Seconds between SIGTERM and the start of shutdown, serving while /readyz says 503 (draining.py);
    # Kubernetes needs a few for the pod to leave the Service's endpoints.
    shutdown_drain_s: float = Field(3.0, ge=0.0, le=300.0)

    log_level: LogLevel = "info"

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        # Comma-separated in the environment; empty entries are typos, not keys.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_long_enough(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(key.get_secret_value()) < 8 for key in keys):
            raise ValueError("every API key must be at least 8 characters")
        return keys

    @field_validator("rate_limit", "redis_url", "serving_address", "detect_queue_size", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_limit", "auth_failure_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_rate_limit(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit like '60/minute': {value!r}") from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _valid_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("serving_address")
    @classmethod
    def _valid_address(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError("SERVING_ADDRESS must be host:port")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _detect_queue_from_workers(self) -> Settings:
        if self.detect_queue_size is None:
            self.detect_queue_size = DETECT_QUEUE_PER_WORKER * self.detect_workers
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.backend == "serving" and not self.serving_address:
            raise ValueError("BACKEND=serving needs SERVING_ADDRESS")
        if self.resolved_backend == "embedded" and not self.model_base_path.is_dir():
            raise ValueError(f"MODEL_BASE_PATH {str(self.model_base_path)!r} is not a directory")
        if self.redis_url and not self.rate_limit:
            raise ValueError("REDIS_URL is only used for rate limiting: set RATE_LIMIT too")
        return self

    @property
    def resolved_backend(self) -> Literal["embedded", "serving"]:
        if self.backend == "auto":
            return "serving" if self.serving_address else "embedded"
        return self.backend

    @property
    def rollout_path(self) -> Path:
        return self.rollout_state_path or default_state_path(self.model_base_path)

    @property
    def logging_level(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level.upper()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
