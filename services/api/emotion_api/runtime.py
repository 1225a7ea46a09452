"""Builds and owns the long-lived parts (backend, batcher, pipeline, rate limiter) of one process.

HTTP comes up before the model: the backend starts in the background and /readyz reports 503
until it answers, so orchestrators can tell "alive" from "ready".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from . import metrics
from .auth import KeyGuard
from .backends import Backend, make_backend
from .batcher import Batcher
from .core.config import Settings
from .draining import Drain
from .pipeline import Pipeline
from .ratelimit import RateLimiter, make_auth_failure_limiter, make_rate_limiter
from .rollout_state import RolloutWatcher

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rollout = RolloutWatcher(settings.rollout_path, settings.rollout_poll_s)
        self.backend: Backend = make_backend(settings, self.rollout)
        self.batcher = Batcher(
            self.backend,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            max_wait_detecting_ms=settings.max_wait_detecting_ms,
            queue_size=settings.queue_size,
            flip_tta=settings.flip_tta,
        )
        self.pipeline = Pipeline(
            backend=self.backend,
            batcher=self.batcher,
            rollout=self.rollout,
            detector_name=settings.detector,
            model_name=settings.model_name,
            request_timeout_s=settings.request_timeout_s,
            detect_workers=settings.detect_workers,
            detect_in=settings.detect_in,
            uncertain_threshold=settings.uncertain_threshold,
            face_alignment=settings.face_alignment,
            detect_queue_size=settings.detect_queue_size,
            min_face_size=settings.min_face_size,
        )
        self.rate_limiter: RateLimiter | None = make_rate_limiter(settings)
        self.key_guard = KeyGuard(settings.api_keys, make_auth_failure_limiter(settings))
        self._tasks: list[asyncio.Task] = []
        self.drain = Drain(settings.shutdown_drain_s)

    async def start(self) -> None:
        self.batcher.start()
        self._tasks.append(asyncio.create_task(self._warm_detection(), name="detection-warm-up"))
        self._tasks.append(asyncio.create_task(self._start_backend(), name="backend-start"))
        self._tasks.append(asyncio.create_task(self._publish_model_info(), name="model-info"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.batcher.close()
        await self.backend.close()
        self.pipeline.close()
        if self.rate_limiter:
            await self.rate_limiter.close()

    async def _start_backend(self) -> None:
        try:
            await self.backend.start()
        except Exception:  # noqa: BLE001 - stay alive and not ready; the backend retries itself
            log.exception("backend %s failed to start", self.backend.name)

    async def _warm_detection(self) -> None:
        try:
            await self.pipeline.detection.warm_up()
        except Exception:  # noqa: BLE001 - requests start workers on demand anyway
            log.exception("face-detection workers failed to start")

    async def _publish_model_info(self) -> None:
        # Keeps the info metric in step with loaded versions and the rollout state.
        while True:
            with contextlib.suppress(Exception):
                if await self.backend.ready():
                    description = await self.backend.describe()
                    metrics.set_model_info(
                        name=description.name,
                        backend=self.backend.name,
                        stable=description.version_labels.get("stable"),
                        canary=description.version_labels.get("canary"),
                        versions=description.versions,
                    )
            await asyncio.sleep(max(1.0, self.settings.rollout_poll_s))
