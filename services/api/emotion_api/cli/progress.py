"""A one-line progress bar on stderr; no dependency, quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int | None, *, label: str = "", stream: TextIO | None = None,
                 enabled: bool | None = None, width: int = 30) -> None:
        self.total = total if total and total > 0 else None
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.count = 0
        self._start = time.monotonic()
        self._last_draw = 0.0

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        # Redrawing is cheap but a terminal flooded with \r lines is not: at most ~10 times a second.
        if self.enabled and (now - self._last_draw >= 0.1 or self.count == self.total):
            self._last_draw = now
            self._draw(now)

    def close(self, summary: str = "") -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write(f"; {summary}\n" if summary else "\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.count / elapsed
        if self.total:
            done = min(1.0, self.count / self.total)
            filled = round(done * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = (self.total - self.count) / rate if rate > 0 else 0.0
            line = f"{self.label} [{bar}] {self.count}/{self.total} {100 * done:5.1f}% {rate:5.1f} fps eta {eta:4.0f}s"
        else:
            line = f"{self.label} {self.count} frames {rate:5.1f} fps"
        self.stream.write("\r" + line)
        self.stream.flush()
