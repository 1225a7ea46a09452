"""Applying a rollout state to TF Serving, then to the state file.

Serving only lets a label name a version that is already loaded, so a change is applied in steps:
1. load the union of the old and new versions (labels unchanged), wait until all are AVAILABLE;
2. move the labels;
3. write the state file (gateways switch their traffic split within ROLLOUT_POLL_S);
4. unload versions nothing needs any more. The one a rollback returns to stays loaded.
"""

from __future__ import annotations

from pathlib import Path

from emotion_contract.rollout import RolloutState, write_state

from .appliers import Log
from .errors import ServingError
from .serving_client import ServingClient
from .serving_config import loaded_versions, model_entry, read_config, with_versions_and_labels, write_config


class ServingRolloutApplier:
    name = "serving"

    def __init__(self, client: ServingClient, config_path: Path, model: str, load_timeout_s: float):
        self._client = client
        self._config_path = config_path
        self._model = model
        self._timeout = load_timeout_s

    def default_stable(self, model_base: Path) -> int:
        """The version Serving answers a request without label or version with: the highest it
        loads. Not the newest folder on disk: an export the trainer just wrote is not served until
        it has been through candidate, canary and promote."""
        versions = loaded_versions(model_entry(read_config(self._config_path), self._model))
        if not versions:
            raise ServingError(f"{self._config_path} names no specific version of {self._model!r}")
        return max(versions)

    def _push(self, config, log: Log, what: str) -> None:
        # File first, so Serving's own periodic poll of the file agrees with what we push.
        write_config(self._config_path, config)
        self._client.reload(config)
        log(f"serving: {what}")

    def apply(self, new: RolloutState, state_path: Path, log: Log) -> RolloutState:
        config = read_config(self._config_path)
        entry = model_entry(config, self._model)
        current_versions = loaded_versions(entry)
        current_labels = {k: v for k, v in entry.version_labels.items()}
        target_versions, target_labels = new.serving_versions(), new.serving_labels()
        union = current_versions | target_versions

        if target_versions - current_versions:
            # Old labels stay where they are: they may only name versions already loaded.
            kept_labels = {k: v for k, v in current_labels.items() if v in union}
            config = with_versions_and_labels(config, self._model, union, kept_labels)
            self._push(config, log, f"loading versions {sorted(union)}")
        self._client.wait_available(self._model, target_versions, self._timeout)
        log(f"serving: versions {sorted(target_versions)} AVAILABLE")

        if target_labels != current_labels or union != current_versions:
            config = with_versions_and_labels(config, self._model, union, target_labels)
            self._push(config, log, f"labels {target_labels}")

        saved = write_state(state_path, new)
        log(f"state written to {state_path}")

        if union != target_versions:
            config = with_versions_and_labels(config, self._model, target_versions, target_labels)
            self._push(config, log, f"unloading versions {sorted(union - target_versions)}")
        return saved
