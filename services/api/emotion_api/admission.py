"""Admission control in front of decoding and face detection, shared by REST and the stream.

The batch queue (QUEUE_SIZE, batcher.py) only bounds crops that are already found; before that an
image is decoded, waits for a detection worker and is detected, and that is where the time goes
under overload. Without a bound there, 300 clients on 2 detection workers made every request wait
behind hundreds of others, and the queue's 503 came only after detection, seconds later (p99 of
the refusals 10.5 s, with 616 of 3209 requests running past their 10 s deadline; docs/reliability.md).

So at most DETECT_QUEUE_SIZE images may be between admission and the end of their detection; one
more is refused at once with `503 overloaded` and `Retry-After`, before a byte of it is decoded
(REST: before its upload is even read).
A slot is released as soon as the image's crops are ready (or it fails), so the batch queue and
this bound never hold the same request twice. Single event loop: a plain counter is enough.
"""

from __future__ import annotations

from types import TracebackType

from . import metrics
from .errors import Overloaded


class Slot:
    """One admitted image. ``release()`` (or leaving the ``with`` block) frees it, once."""

    def __init__(self, admission: Admission) -> None:
        self._admission: Admission | None = admission

    def release(self) -> None:
        if self._admission is not None:
            self._admission._release()
            self._admission = None

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class Admission:
    """A bounded count of images being decoded, waiting for a detection worker or detected."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the admission limit must be at least 1, got {limit}")
        self.limit = limit
        self.active = 0

    def check(self) -> None:
        """Overloaded (counted) when ``limit`` images are in now; takes nothing.

        REST calls it before reading the upload, so a refusal costs no body parsing, and takes its
        slot only once the bytes are in: a slow upload never holds a slot others could use.
        """
        if self.active >= self.limit:
            metrics.OVERLOADED.inc()
            metrics.ADMISSION_REFUSED.inc()
            raise Overloaded("too many images are waiting for face detection; retry shortly")

    def admit(self) -> Slot:
        """A slot for one image, or Overloaded (counted) when ``limit`` images are already in."""
        self.check()
        self.active += 1
        metrics.ADMITTED_IMAGES.set(self.active)
        return Slot(self)

    def _release(self) -> None:
        self.active -= 1
        metrics.ADMITTED_IMAGES.set(self.active)
