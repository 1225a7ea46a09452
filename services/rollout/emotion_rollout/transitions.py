"""Pure state transitions: what canary, promote and rollback mean, with no I/O."""

from __future__ import annotations

from dataclasses import replace

from emotion_contract.rollout import RolloutState

from .errors import InvalidTransition


def start_canary(state: RolloutState, version: int, weight: float) -> RolloutState:
    if version == state.stable:
        raise InvalidTransition(f"version {version} is already stable")
    if not 0.0 < weight <= 1.0:
        raise InvalidTransition(f"canary weight must be in (0, 1], got {weight}")
    return replace(state, canary=version, canary_weight=weight)


def promote(state: RolloutState, version: int | None = None) -> RolloutState:
    target = version if version is not None else state.canary
    if target is None:
        raise InvalidTransition("no canary to promote; name a version or start a canary first")
    if target == state.stable:
        raise InvalidTransition(f"version {target} is already stable")
    return RolloutState(stable=target, canary=None, canary_weight=0.0,
                        previous_stable=state.previous_stable + (state.stable,))


def rollback(state: RolloutState) -> RolloutState:
    """Undoes the newest change: a live canary is dropped, else stable returns to the previous one."""
    if state.canary is not None:
        return replace(state, canary=None, canary_weight=0.0)
    if not state.previous_stable:
        raise InvalidTransition(f"nothing to roll back to: version {state.stable} has no predecessor")
    return RolloutState(stable=state.previous_stable[-1], canary=None, canary_weight=0.0,
                        previous_stable=state.previous_stable[:-1])
