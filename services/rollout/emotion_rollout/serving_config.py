"""Reads and writes TF Serving's models.config (a text-format ModelServerConfig proto)."""

from __future__ import annotations

from pathlib import Path

from emotion_contract.atomic import write_atomic
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2 as msc

from .errors import ServingError


def read_config(path: Path) -> msc.ModelServerConfig:
    try:
        return text_format.Parse(path.read_text(), msc.ModelServerConfig())
    except (OSError, text_format.ParseError) as err:
        raise ServingError(f"{path}: cannot read Serving model config: {err}") from err


def write_config(path: Path, config: msc.ModelServerConfig) -> None:
    # Atomic, so that Serving's own poll of the file never reads half of it.
    write_atomic(path, text_format.MessageToString(config))


def model_entry(config: msc.ModelServerConfig, name: str) -> msc.ModelConfig:
    for entry in config.model_config_list.config:
        if entry.name == name:
            return entry
    raise ServingError(f"model {name!r} is not in the Serving model config")


def loaded_versions(entry: msc.ModelConfig) -> set[int]:
    """Versions the entry asks for; empty unless the policy names specific versions."""
    if entry.model_version_policy.WhichOneof("policy_choice") != "specific":
        return set()
    return set(entry.model_version_policy.specific.versions)


def with_versions_and_labels(config: msc.ModelServerConfig, name: str, versions: set[int],
                             labels: dict[str, int]) -> msc.ModelServerConfig:
    """A copy of `config` where model `name` loads exactly `versions` and carries `labels`."""
    missing = set(labels.values()) - versions
    if missing:
        # Serving would refuse the whole reload; catch it here with a clearer message.
        raise ServingError(f"labels {labels} name versions {sorted(missing)} that would not be loaded")
    updated = msc.ModelServerConfig()
    updated.CopyFrom(config)
    entry = model_entry(updated, name)
    entry.model_version_policy.Clear()
    entry.model_version_policy.specific.versions.extend(sorted(versions))
    entry.version_labels.clear()
    for label, version in sorted(labels.items()):
        entry.version_labels[label] = version
    return updated
