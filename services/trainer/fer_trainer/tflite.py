"""TFLite copies of an exported model, with the same contract as serving_default (uint8 in,
probabilities out): float16 weights for every version, full-integer int8 on request.

Both are converted from a Keras wrapper rather than from the SavedModel: the converter drops the
weights of a Keras 3 model held inside a tf.Module and yields NaNs.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from emotion_contract import signature as sig
from emotion_contract.labels import IMAGE_SIZE

INT8_CALIBRATION_FACES = 512  # training faces that set the int8 activation ranges


def _wrapper(model: keras.Model, input_dtype: str) -> keras.Model:
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), dtype=input_dtype, name=sig.INPUT_KEY)
    probs = keras.layers.Softmax(name=sig.OUTPUT_KEY)(model(keras.ops.cast(pixels, "float32")))
    return keras.Model(pixels, probs)


def write_float16(model: keras.Model, out: Path) -> None:
    """Weights stored in half precision (half the file), computed in float32 at run time."""
    converter = tf.lite.TFLiteConverter.from_keras_model(_wrapper(model, "uint8"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    out.write_bytes(converter.convert())


def write_int8(model: keras.Model, faces: np.ndarray, out: Path, seed: int = 0) -> None:
    """Full-integer model: int8 weights and activations, uint8 pixels in, float probabilities out.

    The wrapper takes float pixels so that the converter quantises the input itself; with
    representative faces spanning 0..255 the input scale comes out at about 1, so clients still
    send raw uint8 pixels.
    """
    rng = np.random.default_rng(seed)
    sample = faces[rng.choice(len(faces), min(INT8_CALIBRATION_FACES, len(faces)), replace=False)]

    def representative():
        for face in sample:
            yield [face[None, ..., None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(_wrapper(model, "float32"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.float32
    out.write_bytes(converter.convert())
