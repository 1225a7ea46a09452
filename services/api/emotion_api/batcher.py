"""One asyncio micro-batcher between all callers and the backend.

Crops from concurrent requests wait in one bounded queue; a worker takes up to `max_batch_size`
of them (waiting at most `max_wait_ms` after the first for more, or `max_wait_detecting_ms`
while other requests are still finding faces and will bring crops soon), makes ONE backend call
per batch and target version, and hands every caller its own rows back. A full queue refuses work
at once (Overloaded) instead of letting latency grow without bound; callers that gave up
(deadline, disconnect) are dropped before their crops reach the model.

With `flip_tta`, each call also sends every crop mirrored and answers the mean of the two
probabilities (flip test-time augmentation): twice the model's work for about a point of val
accuracy (docs/model-history.md). A call then holds at most max_batch_size // 2 crops, so the
model still sees at most max_batch_size images per call, within what Serving's batching allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from . import metrics
from .backends.base import Backend, Prediction
from .errors import Overloaded
from .rollout_state import Target

log = logging.getLogger(__name__)


@dataclass
class _Item:
    pixels: np.ndarray  # [n, H, W, C] of one caller
    target: Target
    future: asyncio.Future
    enqueued_at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return len(self.pixels)


class Batcher:
    def __init__(self, backend: Backend, *, max_batch_size: int, max_wait_ms: float, queue_size: int,
                 max_wait_detecting_ms: float | None = None, flip_tta: bool = False) -> None:
        self.backend = backend
        self.flip_tta = flip_tta
        # Crops per backend call; with flip TTA each is sent twice.
        self.max_batch_size = max(1, max_batch_size // 2) if flip_tta else max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_wait_detecting_s = max(max_wait_ms, max_wait_detecting_ms or 0.0) / 1000.0
        self._detecting = 0  # callers between request start and their crops reaching the queue
        self.queue_size = queue_size
        self._queue: deque[_Item] = deque()
        self._queued_crops = 0
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, backend.max_concurrency))
        self._worker: asyncio.Task | None = None
        self._inflight: set[asyncio.Task] = set()

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="batcher")

    async def close(self) -> None:
        if self._worker:
            self._worker.cancel()
        for task in list(self._inflight):
            task.cancel()
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.cancel()

    @property
    def depth(self) -> int:
        return self._queued_crops

    @contextlib.contextmanager
    def detecting(self) -> Iterator[None]:
        """Marks a caller that is decoding or finding faces and will probably bring crops soon.

        Face detection, not the model, is the slow stage, so under load crops trickle in one
        request at a time; waiting a little longer for callers known to be on their way fills
        batches, while a lone request (nobody detecting) pays only the short max_wait.
        """
        self._detecting += 1
        try:
            yield
        finally:
            self._detecting -= 1
            self._wakeup.set()  # a gatherer waiting for this caller re-checks at once

    async def predict(self, pixels: np.ndarray, target: Target) -> Prediction:
        """Probabilities for ``pixels`` (one caller's crops), batched with everyone else's."""
        if len(pixels) == 0:
            raise ValueError("nothing to predict")
        # Split large callers so that no single batch exceeds max_batch_size.
        chunks = [pixels[i : i + self.max_batch_size] for i in range(0, len(pixels), self.max_batch_size)]
        if self._queued_crops + len(pixels) > self.queue_size:
            metrics.OVERLOADED.inc()
            raise Overloaded()
        loop = asyncio.get_running_loop()
        items = [_Item(chunk, target, loop.create_future()) for chunk in chunks]
        for item in items:
            self._queue.append(item)
            self._queued_crops += item.size
        metrics.QUEUE_DEPTH.set(self._queued_crops)
        self._wakeup.set()
        try:
            results = await asyncio.gather(*(item.future for item in items), return_exceptions=True)
        finally:
            for item in items:  # a cancelled caller must not leave crops for the model
                if not item.future.done():
                    item.future.cancel()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        probabilities = np.concatenate([r.probabilities for r in results])
        return Prediction(probabilities, results[0].version)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._slots.acquire()
            try:
                batch = await self._gather()
            except BaseException:
                self._slots.release()
                raise
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._dispatch(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _take_live(self) -> _Item | None:
        """Pop the next item whose caller still waits; its crops stay counted until dispatch."""
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                return item
            self._queued_crops -= item.size
        return None

    async def _gather(self) -> list[_Item]:
        """Take crops until the batch is full or max_wait has passed since the oldest arrived."""
        first = self._take_live()
        if first is None:
            metrics.QUEUE_DEPTH.set(self._queued_crops)
            return []
        batch, size = [first], first.size
        while size < self.max_batch_size:
            if self._queue:
                if size + self._queue[0].size > self.max_batch_size:
                    break
                item = self._take_live()
                if item is not None:
                    batch.append(item)
                    size += item.size
                continue
            wait = self.max_wait_detecting_s if self._detecting else self.max_wait_s
            remaining = first.enqueued_at + wait - time.monotonic()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break
        # Crops being gathered still count against queue_size: they have not reached the model.
        self._queued_crops -= size
        metrics.QUEUE_DEPTH.set(self._queued_crops)
        return batch

    async def _dispatch(self, batch: list[_Item]) -> None:
        try:
            now = time.monotonic()
            groups: dict[Target, list[_Item]] = {}
            for item in batch:
                metrics.QUEUE_WAIT.observe(now - item.enqueued_at)
                groups.setdefault(item.target, []).append(item)
            await asyncio.gather(*(self._call(target, items) for target, items in groups.items()))
        finally:
            self._slots.release()

    async def _call(self, target: Target, items: list[_Item]) -> None:
        items = [item for item in items if not item.future.done()]
        if not items:
            return
        pixels = np.concatenate([item.pixels for item in items])
        metrics.BATCH_SIZE.observe(len(pixels))
        started = time.perf_counter()
        try:
            if self.flip_tta:
                both = await self.backend.predict(np.concatenate([pixels, pixels[:, :, ::-1]]), target)
                n = len(pixels)
                prediction = Prediction((both.probabilities[:n] + both.probabilities[n:]) / 2, both.version)
            else:
                prediction = await self.backend.predict(pixels, target)
        except Exception as exc:  # noqa: BLE001 - every caller gets the backend's error
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        finally:
            metrics.STAGE_LATENCY.labels("backend").observe(time.perf_counter() - started)
        offset = 0
        for item in items:
            rows = prediction.probabilities[offset : offset + item.size]
            offset += item.size
            if not item.future.done():
                item.future.set_result(Prediction(rows, prediction.version))
