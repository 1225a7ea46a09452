"""Bounded concurrent load against a real gateway, recording what answered each request and when."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

import httpx

# Every PIN_EVERY-th request pins version 1, which stays loaded through the whole rollout.
PIN_EVERY = 8


@dataclass(frozen=True)
class Outcome:
    sent: float
    done: float
    status: int
    version: int | None
    pinned: int | None
    error: str = ""


class Load:
    def __init__(self, url: str, image: bytes, workers: int = 4, max_requests: int = 5000, max_s: float = 240):
        self.url, self.image = url, image
        self.max_requests, self.deadline = max_requests, time.monotonic() + max_s
        self.outcomes: list[Outcome] = []
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(workers)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _worker(self) -> None:
        with httpx.Client(base_url=self.url, timeout=90) as client:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                n = next(self._counter)
                if n >= self.max_requests:
                    return
                pinned = 1 if n % PIN_EVERY == 0 else None
                params = {"detect": "false", **({"model_version": pinned} if pinned else {})}
                sent = time.monotonic()
                try:
                    response = client.post("/v1/emotions", params=params,
                                           files={"image": ("face.jpg", self.image, "image/jpeg")})
                    body = response.json()
                    version = body["model"]["version"] if response.status_code == 200 else None
                    outcome = Outcome(sent, time.monotonic(), response.status_code, version, pinned,
                                      "" if response.status_code == 200 else response.text[:300])
                except httpx.HTTPError as err:
                    outcome = Outcome(sent, time.monotonic(), 0, None, pinned, repr(err))
                with self._lock:
                    self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def wait_for(self, predicate, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.snapshot()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not reached in {timeout_s:.0f}s ({len(self.outcomes)} requests)")
            time.sleep(0.1)
