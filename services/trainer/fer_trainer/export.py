"""Writes a trained Keras model as the next numbered SavedModel version, atomically.

The version is assembled in a hidden temporary folder beside the others (a name that is not a
number, so TensorFlow Serving and the gateway ignore it) and renamed into place only when
complete: a watcher sees the whole version or nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import signature as sig
from .ensemble import describe  # also registers the ensemble's layer, so its .keras files load
from .labels import EMOTIONS, IMAGE_SIZE


def existing_versions(base: Path) -> list[int]:
    if not base.exists():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(base: Path) -> int:
    versions = existing_versions(base)
    return (versions[-1] + 1) if versions else 1


class _ServingModule(tf.Module):
    def __init__(self, model: keras.Model):
        super().__init__()
        self.model = model
        self._labels = tf.constant(list(EMOTIONS))
        self._input_shape = tf.constant([IMAGE_SIZE, IMAGE_SIZE, 1], tf.int32)

    @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.uint8, name=sig.INPUT_KEY)])
    def serve(self, pixels):
        logits = self.model(tf.cast(pixels, tf.float32), training=False)
        return {sig.OUTPUT_KEY: tf.nn.softmax(logits, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=sig.METADATA_INPUT_KEY)])
    def metadata(self, request):
        batch = tf.shape(request)[0]
        return {
            sig.LABELS_KEY: tf.tile(self._labels[None, :], [batch, 1]),
            sig.INPUT_SHAPE_KEY: tf.tile(self._input_shape[None, :], [batch, 1]),
        }


def _write_warmup(path: Path, faces: np.ndarray) -> None:
    """A few real PredictLog records, so Serving runs the graph once before taking traffic."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for size in (1, len(faces)):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=sig.MODEL_NAME, signature_name=sig.SERVING_SIGNATURE))
            request.inputs[sig.INPUT_KEY].CopyFrom(tf.make_tensor_proto(faces[:size, ..., None]))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def write_tflite(model: keras.Model, out: Path) -> None:
    """Same contract as serving_default (uint8 in, probabilities out).

    Converted from a Keras wrapper rather than from the SavedModel: the converter drops the
    weights of a Keras 3 model held inside a tf.Module and yields NaNs.
    """
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), dtype="uint8", name=sig.INPUT_KEY)
    probs = keras.layers.Softmax(name=sig.OUTPUT_KEY)(model(keras.ops.cast(pixels, "float32")))
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(pixels, probs))
    out.write_bytes(converter.convert())


def export(model: keras.Model, base: Path, warmup_faces: np.ndarray, card: dict | None = None,
           tflite: bool = True, _before_publish=None) -> Path:
    """Exports `model` as version N+1 under `base` and returns its folder."""
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=base))
    try:
        module = _ServingModule(model)
        tf.saved_model.save(module, str(staging), signatures={
            sig.SERVING_SIGNATURE: module.serve.get_concrete_function(),
            sig.METADATA_SIGNATURE: module.metadata.get_concrete_function(),
        })
        assets = staging / "assets"
        assets.mkdir(exist_ok=True)
        (assets / sig.LABELS_FILE).write_text("\n".join(EMOTIONS) + "\n")
        _write_warmup(staging / sig.WARMUP_FILE, warmup_faces.astype(np.uint8))
        if tflite:
            write_tflite(model, staging / sig.TFLITE_FILE)
        version = next_version(base)
        card = {"name": sig.MODEL_NAME, "version": version, "labels": list(EMOTIONS),
                "input_shape": [IMAGE_SIZE, IMAGE_SIZE, 1], "input_dtype": "uint8", **describe(model),
                **(card or {})}
        (assets / sig.MODEL_CARD_FILE).write_text(json.dumps(card, indent=2))
        if _before_publish is not None:
            _before_publish(staging, version)
        target = base / str(version)
        # os.rename of a directory onto a missing name is atomic on POSIX; if another exporter
        # took the number first, it fails instead of merging two versions.
        os.rename(staging, target)
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def export_with_report(keras_path: Path, base: Path, data: str | None, run_dir: Path | None) -> Path:
    """The CLI's export: warm-up from real val faces, val report and TFLite check in the version."""
    from .data import load_split

    model = keras.models.load_model(keras_path, compile=False)  # no optimizer slots in the export
    faces = load_split(data, "val").images[:8] if data else np.full((4, IMAGE_SIZE, IMAGE_SIZE), 128, np.uint8)

    def add_report(staging: Path, version: int) -> None:
        if data:
            from .evaluate import evaluate_to_folder
            metrics = evaluate_to_folder(staging, data, "val", staging / sig.REPORT_DIR, run_dir, version=version)
            card_path = staging / "assets" / sig.MODEL_CARD_FILE
            card = json.loads(card_path.read_text())
            card["val"] = {k: metrics[k]["accuracy"] for k in ("plain", "flip_tta")}
            card["val_macro_f1"] = metrics["plain"]["macro_f1"]
            card_path.write_text(json.dumps(card, indent=2))
        if run_dir is not None:
            # Provenance: the recipe, timings and per-epoch history travel with the version.
            for name in ("run.json", "history.csv"):
                if (run_dir / name).exists():
                    (staging / sig.REPORT_DIR).mkdir(exist_ok=True)
                    shutil.copy(run_dir / name, staging / sig.REPORT_DIR / name)

    target = export(model, base, faces, _before_publish=add_report)
    print(f"exported version {target.name} to {target}", flush=True)
    return target
