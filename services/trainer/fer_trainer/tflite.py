"""TFLite copies of an exported model, with the same contract as serving_default (uint8 in,
probabilities out): float16 weights for every version, int8 on request (full-integer, or int8
kernels with float equalization for an equalized model: see `write_int8`).

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


# Int8 kernels for the layers that carry the multiply-adds; the rest of a mixed copy stays float.
INTEGER_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D"})
FULL_INTEGER, INTEGER_KERNELS = "full-integer", "int8 kernels, float elsewhere"


def _layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)


def needs_float_ops(model: keras.Model) -> bool:
    """Whether some layer cannot be computed in int8 at all. Histogram equalization counts up to
    48 x 48 pixels per grey level and divides by a count that may be 1; in int8 that divisor
    rounds to 0 and the interpreter stops on a near-blank crop (`div.cc: data[i] != 0`)."""
    from .equalize import HistogramEqualization

    return any(isinstance(layer, HistogramEqualization) for layer in _layers(model))


def _representative(faces: np.ndarray, seed: int, dtype: str):
    rng = np.random.default_rng(seed)
    sample = faces[rng.choice(len(faces), min(INT8_CALIBRATION_FACES, len(faces)), replace=False)]

    def representative():
        for face in sample:
            yield [face[None, ..., None].astype(dtype)]
    return representative


def write_int8(model: keras.Model, faces: np.ndarray, out: Path, seed: int = 0,
               full_integer: bool | None = None) -> str:
    """An int8 copy, uint8 pixels in and float probabilities out, calibrated on ``faces``;
    returns the form written.

    Full-integer (every op int8) unless the model has a layer that cannot be (``needs_float_ops``):
    then only ``INTEGER_OPS`` run in int8, which is where the multiply-adds are, and the
    equalization and calibration layers stay float (selective quantization through TFLite's
    QuantizationDebugger). ``full_integer`` forces the choice.
    """
    if full_integer is None:
        full_integer = not needs_float_ops(model)
    if full_integer:
        # The wrapper takes float pixels so that the converter quantises the input itself; with
        # representative faces spanning 0..255 the input scale comes out at about 1, so clients
        # still send raw uint8 pixels.
        converter = tf.lite.TFLiteConverter.from_keras_model(_wrapper(model, "float32"))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(faces, seed, "float32")
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
        out.write_bytes(converter.convert())
        return FULL_INTEGER
    wrapper = _wrapper(model, "uint8")
    float_graph = tf.lite.Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(wrapper).convert())
    float_ops = sorted({op["op_name"] for op in float_graph._get_ops_details()} - INTEGER_OPS)
    converter = tf.lite.TFLiteConverter.from_keras_model(wrapper)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    representative = _representative(faces, seed, "uint8")
    converter.representative_dataset = representative
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=float_ops))
    out.write_bytes(debugger.get_nondebug_quantized_model())
    return INTEGER_KERNELS
