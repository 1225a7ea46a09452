"""Applying a rollout state to TF Serving, then to the state file.

Serving only lets a label name a version that is already loaded, so a change is applied in steps:
1. load the union of the old and new versions (labels unchanged), wait until all are AVAILABLE;
2. move the labels;
3. write the state file (gateways switch their traffic split within ROLLOUT_POLL_S);
4. unload versions nothing needs any more. The one a rollback returns to stays loaded.

Nothing is half-applied: if Serving refuses a config, reports a version as failed to load (at
once, not after SERVING_LOAD_TIMEOUT_S) or does not make it AVAILABLE in time, the config the
change started from is pushed back (the new version is unloaded, the labels never moved) and the
state file is left alone before the ServingError is raised.
"""

from __future__ import annotations

from pathlib import Path

from emotion_contract.rollout import RolloutState, write_state

from .appliers import Log
from .errors import RolloutError, ServingError
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
        original = read_config(self._config_path)
        entry = model_entry(original, self._model)
        current_versions = loaded_versions(entry)
        current_labels = {k: v for k, v in entry.version_labels.items()}
        target_versions, target_labels = new.serving_versions(), new.serving_labels()
        union = current_versions | target_versions

        config = original
        try:
            if target_versions - current_versions:
                # Old labels stay where they are: they may only name versions already loaded.
                kept_labels = {k: v for k, v in current_labels.items() if v in union}
                config = with_versions_and_labels(original, self._model, union, kept_labels)
                self._push(config, log, f"loading versions {sorted(union)}")
            self._client.wait_available(self._model, target_versions, self._timeout)
            log(f"serving: versions {sorted(target_versions)} AVAILABLE")

            if target_labels != current_labels or union != current_versions:
                config = with_versions_and_labels(original, self._model, union, target_labels)
                self._push(config, log, f"labels {target_labels}")
            saved = write_state(state_path, new)
        except BaseException as err:  # a refusal, a failed load, a timeout, even Ctrl-C while waiting
            if config is not original:
                self._restore(original, err, log)
            raise
        log(f"state written to {state_path}")

        if union != target_versions:
            config = with_versions_and_labels(config, self._model, target_versions, target_labels)
            self._push(config, log, f"unloading versions {sorted(union - target_versions)}")
        return saved

    def _restore(self, original, err: BaseException, log: Log) -> None:
        """Pushes back the config a failed change started from: Serving unloads what it was asked
        to load (a failed version included) and no label moves. The file is written first, so
        Serving's own poll of it restores the config even when this reload cannot reach Serving."""
        entry = model_entry(original, self._model)
        what = f"versions {sorted(loaded_versions(entry))}, labels {dict(sorted(entry.version_labels.items()))}"
        try:
            self._push(original, log, f"restored {what}")
            outcome = f"nothing changed: Serving is back to {what}"
        except Exception as restore_err:  # noqa: BLE001 - reported with, never instead of, the first error
            outcome = f"{self._config_path} is back to {what}, but Serving did not take it: {restore_err}"
            log(f"serving: {outcome}")
        if isinstance(err, RolloutError):
            err.message = f"{err.message}; {outcome}"
            err.args = (err.message,)
