"""Applying a new rollout state. The embedded gateway needs only the state file (this module);
TF Serving needs its labels moved first (serving_backend.py, imported only when used: it pulls in
TensorFlow's protos)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from .state import RolloutState, save_state

Log = Callable[[str], None]


class Backend(Protocol):
    name: str

    def apply(self, new: RolloutState, state_path: Path, log: Log) -> RolloutState: ...


class EmbeddedBackend:
    """The gateway loads every version the state names itself, before routing to it."""
    name = "embedded"

    def apply(self, new: RolloutState, state_path: Path, log: Log) -> RolloutState:
        saved = save_state(state_path, new)
        log(f"state written to {state_path}")
        return saved
