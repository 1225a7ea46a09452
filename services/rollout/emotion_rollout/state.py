"""The rollout state file shared with the gateway (docs/internal-contracts.md).

`{"stable": 1, "canary": 2 | null, "canary_weight": 0.1, "previous_stable": [..], "updated_at": "..."}`
Written with a temporary file and a rename so a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

# How many earlier stable versions are remembered for rollback; older ones are forgotten.
HISTORY = 10


@dataclass(frozen=True)
class RolloutState:
    stable: int
    canary: int | None = None
    canary_weight: float = 0.0
    previous_stable: tuple[int, ...] = field(default_factory=tuple)
    updated_at: str = ""

    def as_json(self) -> dict:
        data = asdict(self)
        data["previous_stable"] = list(self.previous_stable)
        return data

    def serving_versions(self) -> set[int]:
        """Versions that must stay loaded: stable, canary, and the one a rollback returns to."""
        keep = {self.stable}
        if self.canary is not None:
            keep.add(self.canary)
        if self.previous_stable:
            keep.add(self.previous_stable[-1])
        return keep

    def serving_labels(self) -> dict[str, int]:
        # With no canary the label still exists and names stable: a gateway that has not yet
        # re-read the state file and still sends `canary` gets the version the state now means.
        return {"stable": self.stable, "canary": self.canary if self.canary is not None else self.stable}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def load_state(path: Path, default_stable: Callable[[], int]) -> RolloutState:
    """The saved state, or with no file the version the backend serves by default, no canary."""
    if not path.exists():
        return RolloutState(stable=default_stable())
    data = json.loads(path.read_text())
    return RolloutState(
        stable=int(data["stable"]),
        canary=None if data.get("canary") is None else int(data["canary"]),
        canary_weight=float(data.get("canary_weight") or 0.0),
        previous_stable=tuple(int(v) for v in data.get("previous_stable") or ()),
        updated_at=str(data.get("updated_at") or ""),
    )


def save_state(path: Path, state: RolloutState) -> RolloutState:
    state = replace(state, updated_at=_now(), previous_stable=state.previous_stable[-HISTORY:])
    write_atomic(path, json.dumps(state.as_json(), indent=2) + "\n")
    return state


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name starts with a dot so version scanners never mistake it for anything.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
