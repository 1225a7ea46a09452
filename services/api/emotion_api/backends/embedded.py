"""In-process TensorFlow: loads SavedModel versions from the model base path (or, with
EMBEDDED_RUNTIME=tflite-int8, each version's int8 TFLite copy where it has one).

TensorFlow is imported and every model call runs on one dedicated worker thread, so the event
loop never blocks on it. A background task notices new complete version folders (the contract's
rule, `emotion_contract.layout`) and the versions the rollout state names; older versions stay
loaded until their folder disappears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from emotion_contract import layout
from emotion_contract.signature import INPUT_KEY, OUTPUT_KEY, SERVING_SIGNATURE

from .. import metrics
from ..errors import BackendUnavailable, ModelNotFound
from ..rollout_state import RolloutWatcher, Target
from .base import Backend, ModelDescription, Prediction

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    version: int
    run: Callable[[np.ndarray], np.ndarray]  # uint8 [n, *input_shape] -> probabilities [n, labels]
    label_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    runtime: str  # "savedmodel" or "tflite-int8"
    module: Any = None  # keeps the loaded objects alive as long as `run`


def _load_version(path: Path, version: int, runtime: str = "savedmodel", threads: int = 0) -> _Loaded:
    label_names = layout.read_label_names(path)
    if runtime == "tflite-int8" and (path / layout.TFLITE_INT8_FILE).is_file():
        loaded = _load_tflite(path / layout.TFLITE_INT8_FILE, version, label_names, threads)
    else:
        if runtime != "savedmodel":
            log.info("version %d has no %s: serving its SavedModel", version, layout.TFLITE_INT8_FILE)
        loaded = _load_saved_model(path, version, label_names)
    out = loaded.run(np.zeros((1, *loaded.input_shape), np.uint8))  # warm up: the first call traces
    # A version that answers in another shape than it declares would give clients wrong labels.
    if out.shape != (1, len(label_names)):
        raise ValueError(f"{loaded.runtime} gives {out.shape[1:]} scores for {len(label_names)} labels")
    return loaded


def _load_saved_model(path: Path, version: int, label_names: tuple[str, ...]) -> _Loaded:
    import tensorflow as tf  # heavy: only ever imported on the worker thread

    module = tf.saved_model.load(str(path))
    signature = module.signatures[SERVING_SIGNATURE]
    spec = signature.structured_input_signature[1][INPUT_KEY]

    def run(pixels: np.ndarray) -> np.ndarray:
        return signature(**{INPUT_KEY: tf.constant(pixels, dtype=tf.uint8)})[OUTPUT_KEY].numpy()
    return _Loaded(version, run, label_names, tuple(int(d) for d in spec.shape[1:]), "savedmodel", module)


def _load_tflite(path: Path, version: int, label_names: tuple[str, ...], threads: int) -> _Loaded:
    """The version's int8 copy (same contract: uint8 pixels in, probabilities out). The
    interpreter is not thread-safe; the backend's single worker thread is its only caller."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads or None)
    runner = interpreter.get_signature_runner(SERVING_SIGNATURE)
    (input_key,) = runner.get_input_details()
    detail = runner.get_input_details()[input_key]
    if detail["dtype"] != np.uint8:
        raise ValueError(f"{path.name} takes {detail['dtype']}, not uint8 pixels")

    def run(pixels: np.ndarray) -> np.ndarray:
        # The converter names the single output itself, so take it whatever its key; the runner
        # resizes its input to each batch.
        return next(iter(runner(**{input_key: np.ascontiguousarray(pixels, np.uint8)}).values())).copy()
    return _Loaded(version, run, label_names, tuple(int(d) for d in detail["shape"][1:]), "tflite-int8", interpreter)


def limit_intra_op_threads(threads: int) -> None:
    """Caps the threads TensorFlow gives one op (0 keeps its default), for ops that start later.

    Through the environment, which TensorFlow reads when its runtime starts, because
    tf.config.threading refuses once the runtime is up, and building the MTCNN detector (whose
    weights are read through Keras) may start it before any model version loads.
    """
    if threads > 0:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)


class EmbeddedBackend(Backend):
    name = "embedded"
    max_concurrency = 1

    def __init__(self, base_path: Path, *, model_name: str, rollout: RolloutWatcher, poll_s: float,
                 intra_op_threads: int = 0, runtime: str = "savedmodel") -> None:
        limit_intra_op_threads(intra_op_threads)
        self.intra_op_threads = intra_op_threads
        self.runtime = runtime
        self.base_path = Path(base_path)
        self.model_name = model_name
        self.rollout = rollout
        self.poll_s = poll_s
        self._models: dict[int, _Loaded] = {}
        # Versions that failed to load, with the folder's mtime then: not retried (nor served)
        # until the folder changes, so a broken version costs one attempt, not one per poll.
        self._refused: dict[int, int] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tf-embedded")
        self._load_lock = asyncio.Lock()
        self._poll_task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.refresh()
        self._poll_task = asyncio.create_task(self._poll(), name="embedded-model-poll")

    async def close(self) -> None:
        if self._poll_task:
            self._poll_task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - a bad version folder must not stop polling
                log.exception("model refresh failed")

    def _wanted(self, on_disk: list[int]) -> set[int]:
        state = self.rollout.current()
        named = state.named_versions() if state else set()
        usable = [v for v in on_disk if not self._is_refused(v)]
        return ({usable[-1]} if usable else set()) | (named & set(usable))

    def _is_refused(self, version: int) -> bool:
        if version not in self._refused:
            return False
        try:
            mtime = (self.base_path / str(version)).stat().st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self._refused[version]:
            del self._refused[version]  # replaced or removed: worth another look
            return False
        return True

    async def refresh(self) -> None:
        """Load the newest version and those the rollout state names; drop deleted folders."""
        on_disk = layout.complete_versions(self.base_path)
        # Twice at most: when the newest version is refused, the next newest becomes wanted.
        for _ in range(2):
            missing = sorted(self._wanted(on_disk) - self._models.keys())
            if not missing:
                break
            for version in missing:
                with contextlib.suppress(ModelNotFound):  # refused: logged and counted in _ensure_loaded
                    await self._ensure_loaded(version)
        for version in set(self._models) - set(on_disk):
            log.info("version %d was removed from %s: unloading", version, self.base_path)
            self._models.pop(version, None)

    async def _ensure_loaded(self, version: int) -> _Loaded:
        if (model := self._models.get(version)) is not None:
            return model
        async with self._load_lock:
            if (model := self._models.get(version)) is not None:
                return model
            path = self.base_path / str(version)
            if not self._exists(version):
                raise ModelNotFound(f"model {self.model_name!r} has no version {version}")
            log.info("loading %s version %d", self.model_name, version)
            loop = asyncio.get_running_loop()
            try:
                model = await loop.run_in_executor(self._executor, _load_version, path, version, self.runtime,
                                                   self.intra_op_threads)
            except Exception as exc:
                with contextlib.suppress(OSError):
                    self._refused[version] = path.stat().st_mtime_ns
                metrics.MODEL_LOAD_FAILURES.inc()
                log.error("refused %s version %d: it does not load as a model (%s: %s); still serving %s",
                          self.model_name, version, type(exc).__name__, exc,
                          max(self._models) if self._models else "nothing")
                raise ModelNotFound(f"version {version} is present but failed to load; see the gateway log") from exc
            self._models[version] = model
            log.info("version %d ready (%s)", version, model.runtime)
            return model

    def _newest_loaded(self) -> int:
        if not self._models:
            raise BackendUnavailable("no model version is loaded yet")
        return max(self._models)

    def resolve(self, target: Target) -> Target:
        if target.version is not None:
            # Checked here, before detection: a pin to a missing version is refused up front,
            # with or without faces in the image.
            if not self._exists(target.version):
                raise ModelNotFound(f"model {self.model_name!r} has no version {target.version}")
            return target
        state = self.rollout.current()
        if target.label == "canary":
            if state is None or state.canary is None:
                raise ModelNotFound("no canary version is being rolled out")
            return Target(version=state.canary)
        if target.label == "stable" and state is not None and state.stable is not None:
            return Target(version=state.stable)
        return Target(version=self._newest_loaded())

    def known_version(self, target: Target) -> int | None:
        return self.resolve(target).version

    async def confirm(self, target: Target) -> int | None:
        # resolve() already refuses what does not exist; older versions on disk load on demand.
        return self.known_version(target)

    def _exists(self, version: int) -> bool:
        if version in self._models:
            return True
        return layout.is_complete(self.base_path / str(version)) and not self._is_refused(version)

    async def predict(self, pixels: np.ndarray, target: Target) -> Prediction:
        version = self.resolve(target).version
        assert version is not None
        model = await self._ensure_loaded(version)
        loop = asyncio.get_running_loop()
        try:
            probabilities = await loop.run_in_executor(self._executor, model.run, pixels)
        except Exception as exc:
            raise BackendUnavailable(f"version {version} failed: {exc}") from exc
        return Prediction(probabilities, version)

    async def describe(self) -> ModelDescription:
        newest = self._newest_loaded()
        model = self._models[newest]
        state = self.rollout.current()
        return ModelDescription(
            name=self.model_name,
            versions=tuple(sorted(self._models)),
            input_shape=model.input_shape,
            label_names=model.label_names,
            version_labels={
                "stable": (state.stable if state and state.stable else newest),
                "canary": state.canary if state else None,
            },
            runtimes={version: loaded.runtime for version, loaded in self._models.items()},
        )

    async def ready(self) -> bool:
        return bool(self._models)
