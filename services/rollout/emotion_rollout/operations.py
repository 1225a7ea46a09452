"""The four rollout operations, the same for every serving backend; an applier puts each into effect."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from emotion_contract.layout import complete_versions
from emotion_contract.rollout import RolloutState, read_state

from . import gate, transitions
from .appliers import EmbeddedRolloutApplier, RolloutApplier
from .errors import GateRefused, InvalidTransition
from .settings import RolloutSettings
from .versions import newest_version, require_version

Log = Callable[[str], None]


class Rollout:
    def __init__(self, settings: RolloutSettings, applier: RolloutApplier, log: Log = print):
        self.settings = settings
        self.applier = applier
        self.log = log
        self.base: Path = settings.model_base_path
        self.state_path: Path = settings.state_path()
        self.gate_dir: Path = settings.gate_dir()

    def state(self) -> RolloutState:
        """The saved state; without a file (or a stable in it), stable is what the serving backend
        serves by default, with no canary."""
        saved = read_state(self.state_path)
        if saved is not None and saved.stable is not None:
            return saved
        return replace(saved or RolloutState(), stable=self.applier.default_stable(self.base))

    def status(self) -> dict:
        return {"state": self.state().to_json(), "versions": complete_versions(self.base),
                "backend": self.applier.name, "state_path": str(self.state_path)}

    def candidate(self, version: int | None = None, data: str | None = None, limit: int = 0) -> gate.GateVerdict:
        version = version if version is not None else newest_version(self.base)
        require_version(self.base, version)
        stable = self.state().stable
        if version == stable:
            raise InvalidTransition(f"version {version} is already stable")
        s = self.settings
        self.log(f"evaluating version {version} against stable {stable} on {data or s.rollout_data}")
        metrics = gate.evaluate_versions(self.base, [version, stable], data or s.rollout_data, limit)
        verdict = gate.judge(version, stable, metrics, s.rollout_eval_metric, s.rollout_eval_margin)
        gate.save_verdict(self.gate_dir, verdict)
        if not verdict.passed:
            raise GateRefused(f"refused: {verdict.reason}")
        self.log(f"accepted: {verdict.reason}")
        return verdict

    def canary(self, version: int, weight: float | None = None, skip_gate: bool = False) -> RolloutState:
        require_version(self.base, version)
        current = self.state()
        if not skip_gate:
            gate.require_passed(self.gate_dir, version, current.stable)
        weight = self.settings.rollout_canary_weight if weight is None else weight
        return self._apply(transitions.start_canary(current, version, weight))

    def promote(self, version: int | None = None) -> RolloutState:
        current = self.state()
        if version is not None:
            require_version(self.base, version)
        return self._apply(transitions.promote(current, version))

    def rollback(self) -> RolloutState:
        target = transitions.rollback(self.state())
        # The version rolled back to must still be on disk; Serving keeps it loaded as well.
        require_version(self.base, target.stable)
        return self._apply(target)

    def _apply(self, new: RolloutState) -> RolloutState:
        saved = self.applier.apply(new, self.state_path, self.log)
        self.log(f"stable {saved.stable}, canary {saved.canary} at {saved.canary_weight:.0%}")
        return saved


def make_rollout(settings: RolloutSettings, log: Log = print) -> Rollout:
    if settings.rollout_backend == "serving":
        from .serving_applier import ServingRolloutApplier
        from .serving_client import ServingClient

        client = ServingClient(settings.serving_address)
        applier: RolloutApplier = ServingRolloutApplier(client, settings.serving_model_config, settings.model_name,
                                                        settings.serving_load_timeout_s)
    else:
        applier = EmbeddedRolloutApplier()
    return Rollout(settings, applier, log)


def verdict_json(verdict: gate.GateVerdict) -> dict:
    return asdict(verdict)
