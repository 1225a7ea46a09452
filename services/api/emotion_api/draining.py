"""Graceful shutdown: on SIGTERM, stop being ready at once, keep serving for a drain period, then exit.

uvicorn's own SIGTERM handling closes every connection that has no request in progress, which
includes a connection whose request has arrived but not yet been read: that client gets a reset,
not an answer. Kubernetes also keeps sending new requests for a few seconds after SIGTERM, until
the pod leaves the Service's endpoints. So the gateway takes SIGTERM (and SIGINT) first: /readyz
answers 503 `shutting_down` immediately, requests keep being served for SHUTDOWN_DRAIN_S, and only
then is uvicorn's handler called, which lets the requests still in flight finish before the
process exits (bounded by uvicorn's --timeout-graceful-shutdown where set).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drain:
    def __init__(self, drain_s: float) -> None:
        self.drain_s = drain_s
        self.draining = False
        self._previous: dict[int, Callable | int | None] = {}

    def install(self) -> None:
        """Called from the lifespan, i.e. after uvicorn installed its handlers: ours go in front."""
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, lambda signum, frame: loop.call_soon_threadsafe(self._begin, signum, frame))

    def _begin(self, signum: int, frame) -> None:
        if self.draining:  # a second signal: stop draining and hand over now
            self._hand_over(signum, frame)
            return
        self.draining = True
        log.warning("received %s: not ready any more, serving for %.1fs, then shutting down",
                    signal.Signals(signum).name, self.drain_s)
        asyncio.get_running_loop().call_later(self.drain_s, self._hand_over, signum, frame)

    def _hand_over(self, signum: int, frame) -> None:
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise SystemExit(128 + signum)
