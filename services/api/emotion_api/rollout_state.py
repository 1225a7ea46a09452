"""The gateway's side of a rollout: watching the state file, and the traffic split.

The file's schema, its reader and its (tool-side) writer are the contract's
(`emotion_contract.rollout`); here they decide where each request goes.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from emotion_contract.rollout import Label, RolloutState, read_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selector:
    """What a caller asked for: a pinned version, a label, or neither (the traffic split decides)."""

    version: int | None = None
    label: Label | None = None

    def __post_init__(self) -> None:
        if self.version is not None and self.label is not None:
            raise ValueError("pin either model_version or model_label, not both")


@dataclass(frozen=True)
class Target:
    """What the backend is asked for. `version` wins over `label`; neither means the newest."""

    version: int | None = None
    label: Label | None = None


@dataclass
class RolloutWatcher:
    """Serves the current state, re-reading the file only when its mtime changed.

    The mtime is looked at no more than once per ``poll_s``, so the hot path costs a clock read.
    A file that cannot be parsed keeps the last good state (and is logged), never a crash.
    """

    path: Path
    poll_s: float = 1.0
    _state: RolloutState | None = None
    _stamp: tuple[int, int] | None = None
    _checked_at: float = field(default=float("-inf"))

    def current(self) -> RolloutState | None:
        now = time.monotonic()
        if now - self._checked_at >= self.poll_s:
            self._checked_at = now
            self._refresh()
        return self._state

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None:
                log.info("rollout state %s removed: newest version is stable", self.path)
            self._state, self._stamp = None, None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            state = read_state(self.path)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable rollout state %s: %s", self.path, exc)
            return
        self._state, self._stamp = state, stamp
        log.info("rollout state: %s", state)


def route(selector: Selector, state: RolloutState | None, rng: random.Random | None = None) -> Target:
    """Pins are honoured; unpinned traffic goes to the canary with probability canary_weight."""
    if selector.version is not None:
        return Target(version=selector.version)
    if selector.label is not None:
        return Target(label=selector.label)
    if state is None:
        return Target()
    if state.canary is not None and state.canary_weight > 0:
        if (rng or random).random() < state.canary_weight:
            return Target(label="canary")
    return Target(label="stable")
