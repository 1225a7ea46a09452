"""Histogram equalization of each face crop, as the model's first layer.

Real photographs reach the model with whatever exposure, contrast and tone curve the camera
left; FER-2013's crops were mostly normalised by whoever collected them. Equalizing every crop
maps both onto the same flat histogram. Inside the model it runs after the training
augmentations (so gamma and contrast jitter are seen and undone, as a real camera's would be),
and the exported SavedModel and TFLite copies need no new client-side step: Serving, the
embedded backend and the gateway send the same uint8 crop as before.

It follows OpenCV's equalizeHist (`lut[v] = (cdf[v] - cdf_min) / (n - cdf_min) * 255`, where
`cdf_min` is the count of the darkest value present) without rounding the table, so the model
sees the same picture as `cv2.equalizeHist` to within half a grey level. A constant crop has no
histogram to spread and passes through unchanged, as in OpenCV. Built from one-hot counts, a
matmul and a cumulative sum only, which every backend (TensorFlow, JAX), Serving and TFLite's
builtins have.
"""

from __future__ import annotations

import keras
from keras import ops

LEVELS = 256
_SPLIT = 16  # LEVELS = _SPLIT ** 2


@keras.saving.register_keras_serializable(package="fer_trainer")
class HistogramEqualization(keras.layers.Layer):
    """[batch, h, w, 1] pixels 0..255 in, the same shape equalized per image out (float)."""

    def call(self, x):
        shape = ops.shape(x)
        flat = ops.reshape(x, (shape[0], -1))
        n = ops.cast(ops.shape(flat)[1], "float32")
        levels = ops.cast(ops.clip(ops.round(flat), 0, LEVELS - 1), "int32")
        # The histogram as a product of two 16-wide one-hots (high and low 4 bits of each level):
        # the same counts as a 256-wide one-hot summed over the pixels, with a sixteenth of its
        # memory (a 256-wide one-hot of a batch of 32 crops is 75 MB) and as one batched matmul.
        high = ops.one_hot(ops.floor_divide(levels, _SPLIT), _SPLIT, dtype="float32")  # [batch, n, 16]
        low = ops.one_hot(ops.mod(levels, _SPLIT), _SPLIT, dtype="float32")
        hist = ops.reshape(ops.matmul(ops.transpose(high, (0, 2, 1)), low), (shape[0], LEVELS))  # [batch, 256]
        cdf = ops.cumsum(hist, axis=-1)
        cdf_min = ops.min(ops.where(hist > 0, cdf, n), axis=-1, keepdims=True)
        spread = n - cdf_min
        lut = ops.maximum(cdf - cdf_min, 0.0) / ops.maximum(spread, 1.0) * (LEVELS - 1)
        out = ops.take_along_axis(lut, levels, axis=1)
        out = ops.where(spread > 0, out, ops.cast(levels, "float32"))
        return ops.reshape(out, shape)

    def compute_output_shape(self, input_shape):
        return input_shape
