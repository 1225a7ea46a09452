"""The rollout state file shared by the rollout tool and the gateway, and the traffic split.

`models/emotion/rollout.json` = {"stable": 1, "canary": 2 | null, "canary_weight": 0.1,
"previous_stable": [...], "updated_at": "..."}. A missing file means: stable is the newest
version and there is no canary. The tool writes it atomically (temp file + rename), so a reader
sees either the old or the new state, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Label = Literal["stable", "canary"]
LABELS: tuple[Label, ...] = ("stable", "canary")


@dataclass(frozen=True)
class RolloutState:
    stable: int | None = None
    canary: int | None = None
    canary_weight: float = 0.0
    previous_stable: tuple[int, ...] = ()
    updated_at: str | None = None

    def __post_init__(self) -> None:
        for name in ("stable", "canary"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive version number, got {value!r}")
        if not 0.0 <= float(self.canary_weight) <= 1.0:
            raise ValueError(f"canary_weight must be within 0..1, got {self.canary_weight!r}")

    @classmethod
    def from_json(cls, raw: dict) -> RolloutState:
        if not isinstance(raw, dict):
            raise ValueError("the rollout state must be a JSON object")
        return cls(
            stable=raw.get("stable"),
            canary=raw.get("canary"),
            canary_weight=float(raw.get("canary_weight") or 0.0),
            previous_stable=tuple(int(v) for v in raw.get("previous_stable") or ()),
            updated_at=raw.get("updated_at"),
        )

    def to_json(self) -> dict:
        data = asdict(self)
        data["previous_stable"] = list(self.previous_stable)
        return data

    def version_for(self, label: Label) -> int | None:
        return self.stable if label == "stable" else self.canary

    def named_versions(self) -> set[int]:
        return {v for v in (self.stable, self.canary) if v is not None}


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


def read_state(path: Path) -> RolloutState | None:
    """The state in ``path``, or None when the file does not exist."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    return RolloutState.from_json(json.loads(text))


def write_state(path: Path, state: RolloutState) -> None:
    """Atomically replace ``path`` with ``state`` (temp file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(state.to_json(), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
