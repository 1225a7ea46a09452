"""The interface every inference backend implements.

The model contract they speak (signature names and keys) is `emotion_contract.signature`, which
each backend imports itself.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelNotFound
from ..rollout_state import Target


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # float32 [n, num_labels], rows sum to 1
    version: int  # the version that answered


@dataclass(frozen=True)
class ModelDescription:
    name: str
    versions: tuple[int, ...]  # available (loaded and answering), ascending
    input_shape: tuple[int, ...]  # one example, e.g. (48, 48, 1)
    label_names: tuple[str, ...]
    version_labels: dict[str, int | None] = field(default_factory=dict)
    runtimes: dict[int, str] = field(default_factory=dict)  # version -> what runs it, where the backend knows


class Backend(abc.ABC):
    """Runs the model on batches of face crops. All methods are async and never block the loop."""

    name: str
    # How many batches may be in flight at once; in-process TF gains nothing from more than one.
    max_concurrency: int = 1

    @abc.abstractmethod
    async def start(self) -> None:
        """Load or connect; raises when the model cannot be served at all."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def predict(self, pixels: np.ndarray, target: Target) -> Prediction:
        """``pixels`` uint8 [n, H, W, C] -> probabilities. Raises ModelNotFound / BackendUnavailable."""

    @abc.abstractmethod
    async def describe(self) -> ModelDescription: ...

    @abc.abstractmethod
    async def ready(self) -> bool:
        """True when a model is loaded and the backend answers right now."""

    def resolve(self, target: Target) -> Target:
        """Pin a label to a concrete version when the backend knows it (keeps one request on one version)."""
        return target

    def known_version(self, target: Target) -> int | None:
        """The version ``target`` would reach, for responses that made no backend call (no faces)."""
        return target.version

    async def confirm(self, target: Target) -> int | None:
        """``known_version``, checked against what is served now: raises ModelNotFound as a model
        call would, so a pin to a missing version or label gets the same 404 with or without faces.
        """
        description = await self.describe()
        if target.version is None and target.label is not None and description.version_labels.get(target.label) is None:
            raise ModelNotFound(f"model {description.name!r} has no {target.label} version")
        version = self.known_version(target)
        if version is not None and version not in description.versions:
            raise ModelNotFound(f"model {description.name!r} has no version {version}")
        return version
