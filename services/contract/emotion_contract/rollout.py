"""The rollout state file: which version is stable, which is the canary and how much traffic it gets.

`<model base>/rollout.json` by default (ROLLOUT_STATE_PATH elsewhere):
`{"stable": 3, "canary": 4 | null, "canary_weight": 0.1, "previous_stable": [1, 2], "updated_at": "..."}`.
The rollout tool writes it (`write_state`, atomically); the gateway reads it (`read_state`) and
sends `canary_weight` of unpinned requests to the canary. A missing file, or a missing
`stable`, means: stable is what the backend serves by default (the newest version embedded, the
highest version Serving loads), no canary.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from .atomic import write_atomic

STATE_FILE = "rollout.json"
Label = Literal["stable", "canary"]
LABELS: tuple[Label, ...] = ("stable", "canary")
# How many earlier stable versions are remembered for rollback; older ones are forgotten.
HISTORY = 10


def default_state_path(model_base: Path) -> Path:
    return Path(model_base) / STATE_FILE


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

    def serving_versions(self) -> set[int]:
        """Versions that must stay loaded: stable, canary, and the one a rollback returns to."""
        keep = self.named_versions()
        if self.previous_stable:
            keep.add(self.previous_stable[-1])
        return keep

    def serving_labels(self) -> dict[Label, int | None]:
        # With no canary the label still exists and names stable: a gateway that has not yet
        # re-read the state file and still sends `canary` gets the version the state now means.
        return {"stable": self.stable, "canary": self.canary if self.canary is not None else self.stable}


def read_state(path: Path) -> RolloutState | None:
    """The state in ``path``, or None when there is no file. Raises ValueError on a malformed one."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    return RolloutState.from_json(json.loads(text))


def write_state(path: Path, state: RolloutState) -> RolloutState:
    """Stamps ``state``, keeps the last HISTORY stable versions, and replaces ``path`` atomically."""
    state = replace(state, updated_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    previous_stable=state.previous_stable[-HISTORY:])
    write_atomic(Path(path), json.dumps(state.to_json(), indent=2) + "\n")
    return state
