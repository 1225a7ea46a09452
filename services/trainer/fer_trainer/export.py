"""Writes a trained Keras model as the next numbered SavedModel version, atomically.

The version is assembled in a hidden `.staging-*` folder beside the others (a name that is not a
number, so TensorFlow Serving and the gateway ignore it) and renamed into place only when
complete: a watcher sees the whole version or nothing. Folder layout, signatures and label order
are the contract's (`emotion_contract`); this module only fills them in.
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
from emotion_contract import layout, signature as sig
from emotion_contract.labels import EMOTIONS, IMAGE_SIZE, INPUT_DTYPE, INPUT_SHAPE

from .ensemble import describe  # also registers the ensemble's layer, so its .keras files load
from .tflite import write_float16

# The efficiency issue's bar for an int8 copy worth deploying: at most 0.3 points of val lost.
# A copy that loses more is still measured and reported, but not left in the version folder,
# where an edge deployment could pick it up (the equalizing layer's counts do not survive int8).
INT8_MAX_ACCURACY_LOSS = 0.003


class _ServingModule(tf.Module):
    def __init__(self, model: keras.Model):
        super().__init__()
        self.model = model
        self._labels = tf.constant(list(EMOTIONS))
        self._input_shape = tf.constant(INPUT_SHAPE, tf.int32)

    @tf.function(input_signature=[tf.TensorSpec([None, *INPUT_SHAPE], tf.as_dtype(INPUT_DTYPE), name=sig.INPUT_KEY)])
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


def export(model: keras.Model, base: Path, warmup_faces: np.ndarray, card: dict | None = None,
           tflite: bool = True, _before_publish=None) -> Path:
    """Exports `model` as version N+1 under `base` and returns its folder."""
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=layout.STAGING_PREFIX, dir=base))
    try:
        module = _ServingModule(model)
        tf.saved_model.save(module, str(staging), signatures={
            sig.SERVING_SIGNATURE: module.serve.get_concrete_function(),
            sig.METADATA_SIGNATURE: module.metadata.get_concrete_function(),
        })
        layout.labels_path(staging).parent.mkdir(exist_ok=True)
        layout.labels_path(staging).write_text("\n".join(EMOTIONS) + "\n")
        _write_warmup(staging / layout.WARMUP_FILE, warmup_faces.astype(np.uint8))
        if tflite:
            write_float16(model, staging / layout.TFLITE_FILE)
        version = layout.next_version(base)
        card = {"name": sig.MODEL_NAME, "version": version, "labels": list(EMOTIONS),
                "input_shape": list(INPUT_SHAPE), "input_dtype": INPUT_DTYPE, **describe(model),
                **(card or {})}
        layout.model_card_path(staging).write_text(json.dumps(card, indent=2))
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


def _faces_per_second(version: Path, faces: np.ndarray, batch: int = 32, rounds: int = 5) -> float:
    """SavedModel throughput at the gateway's batch size on this machine (best of a few rounds)."""
    import time

    serve = tf.saved_model.load(str(version)).signatures[sig.SERVING_SIGNATURE]
    x = tf.constant(np.resize(faces, (batch, IMAGE_SIZE, IMAGE_SIZE))[..., None])
    serve(**{sig.INPUT_KEY: x})
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        serve(**{sig.INPUT_KEY: x})
        best = min(best, time.perf_counter() - start)
    return batch / best


def export_with_report(keras_path: Path, base: Path, data: str | None, run_dir: Path | None,
                       calibration: str = "auto", int8: bool = False, command: str | None = None) -> Path:
    """The CLI's export: warm-up from real val faces, calibration fitted on val (folded into the
    model), val report, TFLite checks, cost and the model card, all inside the version."""
    from . import calibrate
    from .costs import describe_cost
    from .data import load_split
    from .model_card import write_model_card

    model = keras.models.load_model(keras_path, compile=False)  # no optimizer slots in the export
    card = {**describe(model), **describe_cost(model)}
    if command:
        card["command"] = command
    val = load_split(data, "val") if data else None
    faces = val.images[:8] if data else np.full((4, IMAGE_SIZE, IMAGE_SIZE), 128, np.uint8)
    fitted, raw_probs = None, None
    if val is not None and calibration != "none":
        raw_probs = tf.nn.softmax(model.predict(val.images[..., None].astype(np.float32), batch_size=256,
                                                verbose=0)).numpy()
        fitted = calibrate.calibrate(raw_probs, val.labels, calibration)
        model = calibrate.with_calibration(model, fitted)
        card["calibration"] = calibrate.parameters(fitted)
        card["uncertain_threshold"] = fitted["uncertain"]["threshold"]

    def add_report(staging: Path, version: int) -> None:
        report = staging / layout.REPORT_DIR
        int8_form = None
        if data and int8:
            from .tflite import write_int8
            int8_form = write_int8(model, load_split(data, "train").images, staging / layout.TFLITE_INT8_FILE)
        metrics = None
        if data:
            from .evaluate import evaluate_to_folder
            if fitted is not None:
                calibrate.write_report(fitted, raw_probs, val.labels, report)
            metrics = evaluate_to_folder(staging, data, "val", report, run_dir, version=version,
                                         int8_form=int8_form)
            if fitted is not None:
                metrics["calibration"] = fitted
            if "tflite_int8" in metrics:
                _keep_int8_if_close(staging, metrics, metrics["plain"]["accuracy"])
            (report / "metrics.json").write_text(json.dumps(metrics, indent=2))
        card_path = layout.model_card_path(staging)
        saved_card = json.loads(card_path.read_text())
        saved_card["faces_per_s"] = round(_faces_per_second(staging, faces), 1)
        if metrics:
            saved_card["val"] = {k: metrics[k]["accuracy"] for k in ("plain", "flip_tta")}
            saved_card["val_macro_f1"] = metrics["plain"]["macro_f1"]
        card_path.write_text(json.dumps(saved_card, indent=2))
        if run_dir is not None:
            # Provenance: the recipe, timings and per-epoch history travel with the version.
            for name in ("run.json", "history.csv"):
                if (run_dir / name).exists():
                    report.mkdir(exist_ok=True)
                    shutil.copy(run_dir / name, report / name)
        write_model_card(staging)

    target = export(model, base, faces, card=card, _before_publish=add_report)
    print(f"exported version {target.name} to {target}", flush=True)
    return target


def _keep_int8_if_close(folder: Path, metrics: dict, plain_accuracy: float) -> None:
    check = metrics["tflite_int8"]
    if "error" in check:
        check["kept"] = False
        reason = f"it does not run: {check['error']}"
    else:
        loss = plain_accuracy - check["accuracy"]
        check["kept"] = bool(loss <= INT8_MAX_ACCURACY_LOSS)
        reason = f"it loses {loss:.1%} of val accuracy (at most {INT8_MAX_ACCURACY_LOSS:.1%} allowed)"
    if not check["kept"]:
        (folder / layout.TFLITE_INT8_FILE).unlink()
        print(f"int8 copy not kept: {reason}", flush=True)


def rewrite_tflite(folder: Path, data: str, int8: bool = False) -> dict:
    """Rewrites an exported version's TFLite copies (float16, and int8 on request) from its own
    SavedModel weights, checks them on all of val against the SavedModel, and records the check
    in the version's report and card. Only the TFLite files change: Serving and the gateway read
    the SavedModel, which stays as it is.
    """
    from .costs import describe_cost
    from .data import load_split
    from .ensemble import ensemble_from_version, from_version
    from .evaluate import checked_copy, load_predictor
    from .model_card import write_model_card
    from .tflite import write_int8

    card_path = layout.model_card_path(folder)
    card = json.loads(card_path.read_text())
    model = ensemble_from_version(folder) if card.get("members") else from_version(folder)
    val = load_split(data, "val")
    reference = load_predictor(folder)(val.images)
    if card.get("calibration"):
        from .calibrate import with_calibration
        model = with_calibration(model, card["calibration"])
    # The read-back must serve what the SavedModel serves, or the copies would be of another model.
    ours = tf.nn.softmax(model.predict(val.images[:256, ..., None].astype(np.float32), verbose=0)).numpy()
    if np.abs(ours - reference[:256]).max() > 1e-4:
        raise ValueError(f"{folder}: the weights read back do not reproduce the SavedModel")
    writers = [(layout.TFLITE_FILE, "tflite", lambda out: write_float16(model, out))]
    if int8:
        writers.append((layout.TFLITE_INT8_FILE, "tflite_int8",
                        lambda out: write_int8(model, load_split(data, "train").images, out)))
    report_path = folder / layout.REPORT_DIR / "metrics.json"
    metrics = json.loads(report_path.read_text()) if report_path.is_file() else {}
    for name, key, write in writers:
        tmp = folder / f".{name}.tmp"
        try:
            form = write(tmp)
            metrics[key] = checked_copy(key, tmp, val.images, val.labels, reference)
        except BaseException:
            tmp.unlink(missing_ok=True)  # the version keeps its previous copy, and no stray file
            raise
        os.replace(tmp, folder / name)
        if key == "tflite_int8":
            metrics[key]["form"] = form
            _keep_int8_if_close(folder, metrics, float((reference.argmax(1) == val.labels).mean()))
        print(f"{folder / name}: {metrics[key]}", flush=True)
    report_path.parent.mkdir(exist_ok=True)
    report_path.write_text(json.dumps(metrics, indent=2))
    for key, value in describe_cost(model).items():
        card.setdefault(key, value)
    card_path.write_text(json.dumps(card, indent=2))
    write_model_card(folder)
    return metrics
